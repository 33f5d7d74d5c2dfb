# syntax=docker/dockerfile:1
# Mooring's operator image (docs/install.md).
#   docker build -t REGISTRY/mooring:0.1.0 .
# Without a container engine, scripts/build-image builds the same image from Debian's and
# PyPI's packages (mmdebstrap + umoci) and tests/image/ starts it.
#
# Stage 1 builds the wheel and installs it, with dependencies pinned by constraints.txt, into
# a virtualenv made by Debian 12's own Python; stage 2 is distroless (the same Debian 12
# Python 3.11 and C++ runtime, no shell, no package manager) running as user 65532. The
# Deployment adds a read-only root filesystem: nothing is written at run time.

FROM debian:12-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY src ./src
RUN python3 -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && python3 -m venv --without-pip /opt/mooring \
 && python3 -m pip --python /opt/mooring/bin/python install --no-cache-dir \
      -c constraints.txt /wheels/mooring_platform-*.whl \
 && /opt/mooring/bin/python -m compileall -q -j 0 /opt/mooring

FROM gcr.io/distroless/python3-debian12:nonroot
COPY --from=build /opt/mooring /opt/mooring
ENV PATH=/opt/mooring/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/opt/mooring/bin/mooring"]
CMD ["operator", "--in-cluster"]
