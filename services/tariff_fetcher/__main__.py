from services.tariff_fetcher.service import run
from shared.service import service_entry

service_entry("tariff-fetcher", run)
