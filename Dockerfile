# syntax=docker/dockerfile:1
# Image of the poller for the local stack (docker-compose.yml). It also carries drssim, the DRS
# simulator, because both come from this one package; the ECS image is deploy/Dockerfile.
#   docker build -t drs-poller:local .
# Two stages: the build stage has pip's build machinery, the runtime stage only the virtualenv,
# so no compiler, cache or source tree ships. Runtime dependencies only: `pip install .`,
# never `.[dev]` (pytest, moto, mypy stay out of the image).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# README.md* : pyproject names the readme; the glob keeps the build working while it is absent.
COPY pyproject.toml README.md* ./
COPY poller ./poller
COPY drssim ./drssim
RUN pip install .

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    POLLER_LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin poller
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# /healthz answers while the event loop turns. Slim images have no curl: use the stdlib.
HEALTHCHECK --interval=15s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('POLLER_HTTP_PORT', '8080'), timeout=2)"]
# Exec form: `poller` is PID 1 and receives SIGTERM itself (no shell in between), so the daemon
# stops finding, lets in-flight writes finish (POLLER_SHUTDOWN_GRACE_SECONDS) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["poller"]
CMD ["run"]
