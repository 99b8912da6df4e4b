from services.meter_reader.service import run
from shared.service import service_entry

service_entry("meter-reader", run)
