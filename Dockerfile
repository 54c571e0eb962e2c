# The operator image: Python, the project, and the Pulumi CLI + Kubernetes provider plugin baked in, so nothing
# is ever downloaded at run time. Build from the repository root: docker build -t database-operator:0.1.0 .

# Stage 1: the Pulumi CLI, Python language host and Kubernetes provider, built from Go modules at the versions
# pinned in toolchain/versions.env (the same ones pyproject.toml pins for the Python SDKs).
FROM golang:1.26-bookworm AS toolchain
WORKDIR /src
COPY toolchain/ toolchain/
ENV DBOP_CACHE=/cache
RUN toolchain/build.sh && mkdir /out && \
    bin="$(toolchain/build.sh --print-bin-dir)" && \
    cp "$bin/pulumi" "$bin/pulumi-language-python" "$bin/pulumi-language-python-exec" \
       "$bin/pulumi-resource-kubernetes" /out/

# Stage 2: the operator.
FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --create-home --home-dir /home/operator operator
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api/ api/
COPY program/ program/
COPY operator/ operator/
COPY stacks-config/ stacks-config/
COPY crds/ crds/
RUN pip install --no-cache-dir .
COPY --from=toolchain /out/ /usr/local/bin/
ENV DATABASE_STACKS_CONFIG=/app/stacks-config \
    PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
    PYTHONUNBUFFERED=1
USER 10001
ENTRYPOINT ["database-operator"]
CMD ["run"]
