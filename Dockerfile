# One image for every Shoal function and for the node agent (docs/deploy-knative.md).
#
#   docker build -t REGISTRY/shoal:TAG .
#
# A function: functions-framework serves the one that FUNCTION_TARGET and FUNCTION_SOURCE name
# (the Knative Services of manifests/ set both, and PORT):
#   docker run -p 8080:8080 -e FUNCTION_TARGET=audit -e FUNCTION_SOURCE=functions/audit.py IMAGE
# The agent, from the same image:
#   docker run --network host IMAGE shoal agent --name n1 --broker URL --listen 0.0.0.0:9100

# Any Debian-based image with Python 3.11 as `python3` and its venv module: python:3.11-slim, or
# Debian's own python3 + python3-venv (how tests/deploy/test_image.py builds it, with no registry).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build: a virtualenv, Shoal's wheel built with its pip, then the wheel and its dependencies
# installed into it (binary wheels only: no compiler is needed, here or later).
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shoal/ shoal/
COPY local_broker/ local_broker/
COPY functions/ functions/
RUN python3 -m venv /opt/shoal \
    && /opt/shoal/bin/pip wheel --no-deps --wheel-dir /dist . \
    && /opt/shoal/bin/pip install --only-binary=:all: /dist/shoal-*.whl

# Run: the same base (the virtualenv's python links to its python3), the virtualenv, the function
# sources FUNCTION_SOURCE points at; no build tools, no root.
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
