# syntax=docker/dockerfile:1
# The realtime server: `docker build -t realtime .`, then `docker run -p 8765:8765 realtime`.
# Stage 1 builds a wheel and a virtualenv with every dependency (uvloop included) on the
# full image, which has a compiler should a dependency lack a wheel for the platform.
# Stage 2 copies only the virtualenv onto the slim image and runs it as an unprivileged user.
# REALTIME_HOST is explicit: without a secret a node listens on 127.0.0.1 only, which a
# container's published port could not reach.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/realtime
COPY pyproject.toml README.md ./
COPY protocol/ protocol/
COPY presence/ presence/
COPY push/ push/
COPY realtime/ realtime/
COPY realtime_client/ realtime_client/
COPY loadtest/ loadtest/
RUN /opt/realtime/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/realtime/bin/pip install /wheels/*.whl \
 && /opt/realtime/bin/python -c "import uvloop, realtime.node"

FROM python:${PYTHON_VERSION}-slim-bookworm
RUN groupadd --system --gid 10001 realtime \
 && useradd --system --uid 10001 --gid realtime --home-dir /var/lib/realtime \
    --create-home --shell /usr/sbin/nologin realtime
COPY --from=build /opt/realtime /opt/realtime
ENV PATH=/opt/realtime/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REALTIME_DATA_DIR=/var/lib/realtime \
    REALTIME_HOST=0.0.0.0 \
    REALTIME_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/realtime
VOLUME ["/var/lib/realtime"]
# 8765: clients (WebSocket); 8080: the internal HTTP API and /metrics, never public.
EXPOSE 8765 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["realtime", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["realtime"]
CMD ["serve"]
