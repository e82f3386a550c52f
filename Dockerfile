# Plumb CRM, production image: gunicorn serves the web (CMD); the same image runs the Celery
# worker and beat (`celery -A config worker|beat`). Build with `make image` (see README,
# Production). Any Debian-like base with python3 (3.11+) and its venv module will do.
ARG BASE_IMAGE=python:3.11-slim

# --- 1. build: every dependency as a wheel (the only stage that talks to the package index) ----
FROM ${BASE_IMAGE} AS build
# The index the host uses (empty: pip's default); its CA bundle comes as the BuildKit secret
# `pip_cert`, mounted for this one RUN and never written into a layer.
ARG PIP_INDEX=
ARG PLUMB_EXTRAS=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=120 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/build-venv
COPY pyproject.toml README.md ./
RUN --mount=type=secret,id=pip_cert \
    --mount=type=cache,target=/root/.cache/pip \
    set -eu; \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    /opt/build-venv/bin/pip wheel --quiet --wheel-dir /wheels ${PIP_INDEX:+--index-url "$PIP_INDEX"} \
      ".${PLUMB_EXTRAS:+[$PLUMB_EXTRAS]}"

# --- 2. runtime: the virtualenv from those wheels, the code, collected static files -----------
FROM ${BASE_IMAGE} AS runtime
ARG PLUMB_EXTRAS=
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PLUMB_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000
# The one user the processes run as; it owns only what it writes (var/: SQLite, beat schedule).
RUN groupadd --system --gid 10001 plumb \
 && useradd --system --uid 10001 --gid plumb --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin plumb
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet --no-cache-dir --no-index --find-links /wheels \
      "plumb-crm${PLUMB_EXTRAS:+[$PLUMB_EXTRAS]}" \
 && /opt/venv/bin/pip uninstall --quiet --yes pip setuptools
WORKDIR /app
COPY . .
# Hashed, gzip- and brotli-compressed static files, baked in (no secret is needed to collect).
RUN DEBUG=false SECRET_KEY=collectstatic-only-not-a-secret-0123456789abcdefghijklmnop \
      ALLOWED_HOSTS=build PLUMB_VAR_DIR=/tmp/build-var python manage.py collectstatic --noinput -v0 \
 && rm -rf /tmp/build-var \
 && mkdir -p /app/var && chown plumb:plumb /app/var
USER plumb
EXPOSE 8000
# Liveness only (/livez): a database outage must not get web containers restarted.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
# Last, so a new version or commit re-runs nothing but this.
ARG BASE_IMAGE
ARG PLUMB_VERSION=unknown
ARG GIT_REVISION=unknown
LABEL org.opencontainers.image.title="Plumb CRM" \
      org.opencontainers.image.description="Self-hosted sales CRM: web (gunicorn), Celery worker and beat" \
      org.opencontainers.image.version="${PLUMB_VERSION}" \
      org.opencontainers.image.revision="${GIT_REVISION}" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
