# learnbot: one image for every process (web, worker, migrate); the command picks the process.
# Build: docker build -t learnbot .   Run: see compose.yaml and README, "Operate".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3000

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY bot/__init__.py bot/__init__.py
RUN pip install --no-cache-dir -e .

# The source tree (migrations and alembic.ini are read from it by `learnbot migrate`).
COPY alembic.ini ./
COPY migrations ./migrations
COPY bot ./bot

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin learnbot
USER 10001

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# SIGTERM ends every process gracefully (README, "Operate"); exec form so it reaches learnbot.
STOPSIGNAL SIGTERM
ENTRYPOINT ["learnbot"]
CMD ["serve"]
