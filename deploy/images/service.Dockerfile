# syntax=docker/dockerfile:1
# The four services, one image each, from one wheel of this repository (pyproject.toml: libs/ and services/).
# Build from the repository root, one target per service:
#   docker build -f deploy/images/service.Dockerfile --target lending -t registry.example.vn/sachso/sachso-lending:0.1.0 .
# (targets: lending, reader, drm, notify). CI builds the same wheel and checks this file (tests/k8s); `make images`
# builds every target here with podman on a local Debian bookworm base (deploy/local/images.py) and the image test
# runs them as the chart renders them.
# Pin the base by digest in production: --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Runtime dependencies exactly as locked (hashes required), binary wheels only: no compiler in the image. The one
# exception, http-ece (Web Push encryption), is pure Python and publishes only its source, built from the pinned sdist.
COPY requirements/base.lock /tmp/base.lock
RUN python -m venv /opt/sachso \
    && /opt/sachso/bin/pip install --no-deps \
        --require-hashes --only-binary=:all: --no-binary=http-ece -r /tmp/base.lock
# The build backend, pinned with hashes, in a venv of its own (a Debian Python refuses system installs, PEP 668),
# then the project's wheel (services, the shared plumbing and their data files).
COPY deploy/images/build-requirements.txt /tmp/build-requirements.txt
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes -r /tmp/build-requirements.txt
COPY pyproject.toml README.md LICENSE ./
COPY libs/ libs/
COPY services/ services/
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
    && /opt/sachso/bin/pip install --no-deps --no-index /dist/sachso-*.whl

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/sachso/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 sachso \
    && useradd --system --uid 10001 --gid sachso --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin sachso
COPY --from=build /opt/sachso /opt/sachso
COPY deploy/images/healthcheck.py /opt/sachso/healthcheck.py
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 50051
# Docker and Compose use this; Kubernetes uses the chart's probes (HTTP /healthz, /readyz, gRPC health).
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "/opt/sachso/healthcheck.py"]

FROM runtime AS lending
ENV SACHSO_SERVICE=lending \
    LENDING_HTTP_HOST=0.0.0.0 LENDING_HTTP_PORT=8080 LENDING_GRPC_HOST=0.0.0.0 LENDING_GRPC_PORT=50051
CMD ["python", "-m", "lending"]

FROM runtime AS reader
# EPUBCheck runs in a JVM: a Java runtime, and its worker compiled now by a JDK removed in the same layer.
# DejaVu Sans draws the Vietnamese letters of watermarks. The OCR workers (consumer group reader-ocr, on by default:
# READER_OCR_WORKER) run the tesseract command with the models of READER_OCR_LANGUAGES (default vie; English and
# orientation come with tesseract-ocr). Debian's versions move with security updates: not pinned.
USER 0
# hadolint ignore=DL3008
RUN apt-get update \
    && mkdir -p /usr/share/man/man1 \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless fonts-dejavu-core \
        tesseract-ocr tesseract-ocr-vie \
    && apt-get install -y --no-install-recommends openjdk-17-jdk-headless \
    && python -m reader.adapters.epubcheck \
    && apt-get purge -y openjdk-17-jdk-headless \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
USER 10001:10001
ENV SACHSO_SERVICE=reader \
    READER_HTTP_HOST=0.0.0.0 READER_HTTP_PORT=8080 READER_GRPC_HOST=0.0.0.0 READER_GRPC_PORT=50051
CMD ["python", "-m", "reader"]

FROM runtime AS drm
ENV SACHSO_SERVICE=drm \
    DRM_HTTP_HOST=0.0.0.0 DRM_HTTP_PORT=8080 DRM_GRPC_HOST=0.0.0.0 DRM_GRPC_PORT=50051
CMD ["python", "-m", "drm"]

FROM runtime AS notify
ENV SACHSO_SERVICE=notify \
    NOTIFY_HTTP_HOST=0.0.0.0 NOTIFY_HTTP_PORT=8080 NOTIFY_GRPC_HOST=0.0.0.0 NOTIFY_GRPC_PORT=50051
CMD ["python", "-m", "notify"]
