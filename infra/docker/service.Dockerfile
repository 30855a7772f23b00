# One image recipe for every Backbeat process; docker-compose.yml passes, per service, the
# packages to install (the service and the libraries it needs), the module to run and its port.
# Built from the repository root. Layers, from the least to the most often changed: the
# third-party dependencies (pinned by constraints.txt), then Backbeat's own packages, so a
# change to the code alone rebuilds in seconds.
# PYTHON_IMAGE is python:3.11-slim, or a local equivalent where no registry can be reached
# (infra/docker/images.sh). PIP_INDEX_URL, when given, is the package index to install from.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS requirements
ARG PACKAGES
WORKDIR /src
COPY libs libs
COPY services services
COPY infra/docker/requirements.py /requirements.py
RUN test -n "$PACKAGES" && python /requirements.py $PACKAGES > /requirements.txt

FROM ${PYTHON_IMAGE} AS build
ARG PACKAGES
ARG PIP_INDEX_URL=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY constraints.txt ./
COPY --from=requirements /requirements.txt ./
RUN if [ -z "$PIP_INDEX_URL" ]; then unset PIP_INDEX_URL; fi \
    && python -m venv /opt/backbeat \
    && /opt/backbeat/bin/pip install -q -c constraints.txt -r requirements.txt \
    && python -m venv /opt/build \
    && /opt/build/bin/pip install -q -c constraints.txt hatchling
COPY libs libs
COPY services services
RUN /opt/build/bin/pip wheel -q --no-deps --no-build-isolation -w /wheels $PACKAGES \
    && /opt/backbeat/bin/pip install -q --no-deps --no-index /wheels/*.whl

FROM ${PYTHON_IMAGE}
ARG MODULE
ARG PORT
# infra/docker/compose.sh removes the images a rebuild leaves untagged by this label.
LABEL dev.backbeat.image=service
RUN useradd --system --uid 10001 --no-create-home backbeat
COPY --from=build /opt/backbeat /opt/backbeat
ENV PATH=/opt/backbeat/bin:$PATH PYTHONUNBUFFERED=1 BACKBEAT_MODULE=$MODULE BACKBEAT_HEALTH_PORT=$PORT
USER backbeat
EXPOSE $PORT
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=12 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"BACKBEAT_HEALTH_PORT\"]}/health/ready', timeout=2)"
CMD exec python -m "$BACKBEAT_MODULE"
