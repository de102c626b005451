# syntax=docker/dockerfile:1
# Kassa's production image: web, relay, worker and migrate all run from it (see
# docker-compose.yml and the Procfile). Only the runtime dependencies are installed: the
# `local` extra (embedded servers, SMTP sink) stays out.

# --- build: a wheel of Kassa and of each of its dependencies -------------------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY checkout ./checkout
COPY devstack ./devstack
COPY kassa ./kassa
COPY ops ./ops
COPY outbox ./outbox
COPY repos ./repos
COPY schemas ./schemas
COPY stripe_emulator ./stripe_emulator
COPY web ./web
COPY workers ./workers
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: the wheels installed, nothing to compile, a user of its own -----------------
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    KASSA_MAILBOX_DIR=/var/lib/kassa/mailbox \
    KASSA_METRICS_HOST=0.0.0.0
# The only directory Kassa writes to (besides /tmp, where `kassa web` pools the metrics of
# its processes), owned by the user it runs as. Confirmation emails
# go to KASSA_MAILBOX_DIR unless KASSA_SMTP_HOST/KASSA_SMTP_PORT name a relay (production).
RUN groupadd --system --gid 10001 kassa \
    && useradd --system --uid 10001 --gid kassa --home-dir /var/lib/kassa --shell /usr/sbin/nologin kassa \
    && mkdir -p /var/lib/kassa/mailbox \
    && chown -R kassa:kassa /var/lib/kassa
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/kassa-*.whl \
    && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/kassa
# 8000: web (HTTP API, storefront, /metrics); 9101 and 9102: relay and worker /metrics.
EXPOSE 8000 9101 9102
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/readyz\", timeout=2)"]
CMD ["kassa", "web", "--host", "0.0.0.0", "--port", "8000"]
