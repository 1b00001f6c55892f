# syntax=docker/dockerfile:1
# Images of the poller (target `runtime`, the default and the one ECS runs) and of drssim, the DRS
# simulator the local stack uses (target `drssim`). The poller image holds the product only:
# drssim and the development tooling are distributions of their own and never installed in it.
#   docker build -t drs-poller:local .
#   docker build --target drssim -t drssim:local .
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
RUN pip install .

FROM ${PYTHON_IMAGE} AS drssim-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY sim ./sim
RUN pip install ./sim

FROM ${PYTHON_IMAGE} AS drssim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin drssim
COPY --from=drssim-build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8081
ENTRYPOINT ["drssim"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8081"]

# The poller's image: last, so it is what a plain `docker build` makes.
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
