# syntax=docker/dockerfile:1
# One image for every Python process of botmesh: the three services, the migration job
# (`botmesh migrate`), the gateway renderer (`botmesh gateway render`), the health probe
# (`botmesh health`) and exchange_sim. docker-compose.yml and deploy/k8s/ run it.
#
# No secret is in the image: settings come from the environment at run time (deploy/env/).
# Code generated from protos/ (gen/) is made here, as `make gen` makes it (tools/codegen.py,
# grpcio-tools' protoc: buf is only the contract's linter, so no Node stage is needed).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
WORKDIR /app
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN pip install --require-virtualenv -r requirements.lock
COPY . .
# The same steps as the Makefile's setup: the code, generated code, and both on the path.
RUN python tools/codegen.py \
 && pip install --no-deps --no-build-isolation -e . \
 && python -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "botmesh-gen.pth").write_text("/app\n/app/gen\n")' \
 && python -m compileall -q /app

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOTMESH_STATE_DIR=/var/lib/botmesh
RUN groupadd --system --gid 10001 botmesh \
 && useradd --system --uid 10001 --gid botmesh --no-create-home --shell /usr/sbin/nologin botmesh \
 && mkdir -p /var/lib/botmesh /etc/botmesh/gateway \
 && chown botmesh:botmesh /var/lib/botmesh /etc/botmesh/gateway
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 10001:10001
# Services: credential 50051, trading 50052, analysis 50053; exchange_sim 8090.
EXPOSE 50051 50052 50053 8090
CMD ["botmesh", "--help"]
