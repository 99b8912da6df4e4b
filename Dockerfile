# One image for every chargebus service; the compose file picks the service by command.
FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir . && useradd --system --home /app chargebus && mkdir -p /data && chown chargebus /data
USER chargebus
VOLUME ["/data"]
EXPOSE 7070
ENTRYPOINT ["chargebus"]
CMD ["demo", "--data", "/data"]
