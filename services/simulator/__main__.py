from services.simulator.service import run
from shared.service import service_entry

service_entry("simulator", run)
