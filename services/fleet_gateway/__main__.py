from services.fleet_gateway.service import run
from shared.service import service_entry

service_entry("fleet-gateway", run)
