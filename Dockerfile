# The API: the locked runtime dependencies (uv.lock, no dependency groups) under an unprivileged user.
# `backend serve` upgrades the database to the newest revision before it listens, so a new image
# migrates on start. Build and run with docker-compose.yml, or:
#   docker build -t backend-api . && docker run -e BACKEND_SECRET_KEY=… -e BACKEND_DATABASE_URL=… backend-api
FROM python:3.11.15-slim-trixie

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    BACKEND_ENVIRONMENT=production

WORKDIR /app

# The dependencies in a layer of their own, rebuilt only when uv.lock or pyproject.toml change.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-default-groups --no-install-project

# Then the project, editable (uv's default): the package finds alembic/ and alembic.ini next to it.
COPY . /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-default-groups

# Only data/ (the SQLite file and a generated key, when those are used) is writable by the server.
RUN useradd --system --user-group --uid 10001 --home-dir /app --no-create-home backend \
    && mkdir -p /app/data \
    && chown backend:backend /app/data
USER backend

EXPOSE 8000
# /health answers 200 only when the database is reachable and at the newest revision.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["backend", "serve", "--host", "0.0.0.0"]
