# One image for every Shoal function and for the node agent (docs/deploy-knative.md).
#
#   docker build -t REGISTRY/shoal:TAG .
#
# A function: functions-framework serves the one that FUNCTION_TARGET and FUNCTION_SOURCE name
# (the Knative Services of manifests/ set both, and PORT):
#   docker run -p 8080:8080 -e FUNCTION_TARGET=audit -e FUNCTION_SOURCE=functions/audit.py IMAGE
# The agent, from the same image:
#   docker run --network host IMAGE shoal agent --name n1 --broker URL --listen 0.0.0.0:9100

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build: Shoal's wheel, then a virtualenv with it and its dependencies (binary wheels only).
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shoal/ shoal/
COPY local_broker/ local_broker/
COPY functions/ functions/
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
    && python -m venv /opt/shoal \
    && /opt/shoal/bin/pip install --only-binary=:all: /dist/shoal-*.whl

# Run: the slim base, the virtualenv, the function sources FUNCTION_SOURCE points at; no build
# tools, no root.
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/shoal/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 shoal \
    && useradd --system --uid 10001 --gid shoal --no-create-home --shell /usr/sbin/nologin shoal
WORKDIR /app
COPY --from=builder /opt/shoal /opt/shoal
COPY functions/ functions/
# The default data folder (.shoal: SQLite state without SHOAL_STATE_URL, the agent's store).
RUN mkdir .shoal && chown shoal:shoal .shoal
USER 10001:10001
EXPOSE 8080
CMD ["functions-framework"]
