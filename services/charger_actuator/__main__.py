from services.charger_actuator.service import run
from shared.service import service_entry

service_entry("charger-actuator", run)
