from services.gateway.service import run
from shared.service import service_entry

service_entry("gateway", run)
