# The operator image: Python, the project, and the Pulumi CLI + Kubernetes provider plugin baked in, so nothing
# is ever downloaded at run time. Runs as uid 10001 with a read-only root filesystem (deploy/deployment.yaml
# mounts the writable places: the state volume, which holds PULUMI_HOME, and /tmp).
#
# Upstream, with the public bases, the toolchain built from source in the first stage:
#   docker build -t database-operator:0.1.0 .
# Here (toolchain/operator-image.sh), with no registry: bases made from Debian packages and the binaries
# toolchain/build.sh already built, given as a build context that replaces the first stage:
#   buildah bud --build-arg PYTHON_BASE=localhost/python:3.11 --build-context toolchain=<dir with out/> .
ARG GO_BASE=golang:1.26-bookworm
ARG PYTHON_BASE=python:3.11-slim-bookworm

# Stage 1: the Pulumi CLI, Python language host and Kubernetes provider, built from Go modules at the versions
# pinned in toolchain/versions.env (the same ones pyproject.toml pins for the Python SDKs), into /out/.
FROM ${GO_BASE} AS toolchain
WORKDIR /src
COPY toolchain/ toolchain/
ENV DBOP_CACHE=/cache
RUN toolchain/build.sh && mkdir /out && \
    bin="$(toolchain/build.sh --print-bin-dir)" && \
    cp "$bin/pulumi" "$bin/pulumi-language-python" "$bin/pulumi-language-python-exec" \
       "$bin/pulumi-resource-kubernetes" /out/

# Stage 2: the operator, in a virtualenv (Debian's Python refuses `pip install` into the system, PEP 668).
FROM ${PYTHON_BASE}
RUN groupadd --gid 10001 database-operator && \
    useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin database-operator
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api/ api/
COPY program/ program/
COPY operator/ operator/
COPY stacks-config/ stacks-config/
COPY stacks-config-local/ stacks-config-local/
COPY crds/ crds/
RUN python3 -m venv /opt/venv && \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check . && \
    rm -rf /app/build
COPY --from=toolchain /out/ /usr/local/bin/
# HOME points into /tmp (an emptyDir in the Deployment): nothing may write under the read-only root.
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    HOME=/tmp \
    DATABASE_STACKS_CONFIG=/app/stacks-config \
    PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
ENTRYPOINT ["database-operator"]
CMD ["run"]
