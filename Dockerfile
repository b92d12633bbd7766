# learnbot: one image for every process (web, worker, migrate); the command picks the process.
# Build: docker build -t learnbot .   Run: see compose.yaml and README, "Operate".
# Layout: the source in /app (root's, read-only for the process), learnbot installed from it as a
# wheel into the venv /opt/venv, and /data the only place the process (uid 10001) may write: the
# default SQLite database lives there (mount a volume; with PostgreSQL it stays empty).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/learnbot.db

RUN python -m venv /opt/venv

WORKDIR /app

# Dependencies first, so a code change does not reinstall them (the wheel carries alembic.ini,
# migrations/ and manifest.yml: `learnbot migrate` and `check --online` read them from there).
COPY pyproject.toml setup.py MANIFEST.in README.md alembic.ini manifest.yml ./
COPY migrations ./migrations
COPY bot/__init__.py bot/__init__.py
RUN pip install --no-cache-dir . && rm -rf build ./*.egg-info

COPY bot ./bot
RUN pip install --no-cache-dir --no-deps --force-reinstall . && rm -rf build ./*.egg-info

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin learnbot \
    && mkdir /data && chown 10001 /data
VOLUME ["/data"]
USER 10001

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# SIGTERM ends every process gracefully (README, "Operate"); exec form so it reaches learnbot.
STOPSIGNAL SIGTERM
ENTRYPOINT ["learnbot"]
CMD ["serve"]
