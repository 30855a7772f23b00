# One image recipe for every Backbeat process; docker-compose.yml passes, per service, the
# packages to install (the service and the libraries it needs), the module to run and its port.
# Built from the repository root.
FROM python:3.11-slim AS build
ARG PACKAGES
WORKDIR /src
COPY constraints.txt ./
COPY libs libs
COPY services services
RUN test -n "$PACKAGES" \
    && python -m venv /opt/backbeat \
    && /opt/backbeat/bin/pip install --no-cache-dir -c constraints.txt $PACKAGES

FROM python:3.11-slim
ARG MODULE
ARG PORT
RUN useradd --system --uid 10001 --no-create-home backbeat
COPY --from=build /opt/backbeat /opt/backbeat
ENV PATH=/opt/backbeat/bin:$PATH PYTHONUNBUFFERED=1 BACKBEAT_MODULE=$MODULE BACKBEAT_HEALTH_PORT=$PORT
USER backbeat
EXPOSE $PORT
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"BACKBEAT_HEALTH_PORT\"]}/health/ready', timeout=2)"
CMD exec python -m "$BACKBEAT_MODULE"
