"""One module per tariff provider: a pure parser (payload → rates) plus a thin HTTP edge."""
