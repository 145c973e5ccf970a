# syntax=docker/dockerfile:1
# Two stages: the builder turns the project into a wheel and installs it into a virtualenv; the
# final image gets only that virtualenv, the migrations and a non-root user. No secret is baked
# in: JWT_SECRET, ENCRYPTION_KEYS and DATABASE_URL come from the environment at run time.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
RUN python -m venv /opt/venv
# The locked dependency set (exact versions, verified hashes), then the project alone on top.
COPY requirements/main.lock ./requirements/
RUN /opt/venv/bin/pip install --require-hashes -r requirements/main.lock
COPY pyproject.toml README.md ./
COPY src ./src
# Nothing installs packages at run time: the venv's pip and setuptools (old ones carry CVEs) go.
RUN pip wheel --no-deps --wheel-dir /dist . \
    && /opt/venv/bin/pip install --no-deps /dist/autogrid-*.whl \
    && /opt/venv/bin/pip uninstall --yes setuptools pip

FROM ${PYTHON_IMAGE}
# The base image's own pip, setuptools and wheel are not used at run time either.
RUN python -m pip uninstall --yes setuptools wheel pip || true
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 autogrid \
    && useradd --system --uid 10001 --gid autogrid --home-dir /app --shell /usr/sbin/nologin autogrid
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations ./migrations
# VAR_DIR (./var) must be writable by the service user; nothing else in /app is.
RUN mkdir -p /app/var && chown autogrid:autogrid /app/var
# Numeric, so orchestrators can verify "runAsNonRoot" without resolving names.
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["autogrid", "serve", "--host", "0.0.0.0", "--port", "8000"]
