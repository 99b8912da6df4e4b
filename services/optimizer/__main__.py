from services.optimizer.service import run
from shared.service import service_entry

service_entry("optimizer", run)
