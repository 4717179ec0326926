# cloudpods-operator image: `docker build -t <registry>/cloudpods-operator:<version> .` (the version:
# src/cloudpods_operator/__init__.py; charts/cloudpods-operator/README.md says how to install it)
#
# Two stages on the same Debian slim Python: the builder builds the project's wheel and installs it,
# with its dependencies, into /opt/venv; the final stage copies only that venv (no compiler, no pip
# cache, no sources) and runs as 65532:65532. Nothing is written at runtime, so the pod can run
# with readOnlyRootFilesystem.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# README.md is optional (the glob may match nothing; pyproject.toml always matches).
COPY pyproject.toml constraints.txt README.m[d] ./
COPY src ./src
# Build the wheel first (sdist-free, from the copied tree), then install it with its dependencies,
# pinned by constraints.txt (hack/constraints.sh), so two builds get the same packages.
# pip compiles every module to bytecode here, so the read-only final image never needs to.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --constraint constraints.txt /wheels/*.whl \
    && /opt/venv/bin/pip uninstall --yes pip setuptools \
    && /opt/venv/bin/cloudpods-operator --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="cloudpods-operator" \
      org.opencontainers.image.description="Runs every Cloudpods service from one OnecloudCluster resource" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
# The "restricted" Pod Security Standard: a numeric non-root user (no /etc/passwd entry needed).
USER 65532:65532
# 8080: /metrics, 8081: /healthz and /readyz.
EXPOSE 8080 8081
ENTRYPOINT ["cloudpods-operator"]
CMD ["run"]
