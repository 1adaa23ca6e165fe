#!/usr/bin/env bash
# The PostgreSQL test suite against the dev stack's server (docker-compose.dev.yml), in the harness's
# external-server mode; the server is removed afterwards, whatever happens.
#   scripts/test_docker_integration.sh [pytest arguments, e.g. -k admin -n 2]
# It runs as its own compose project, so it never stops your dev stack or touches its volumes; stop
# the dev stack's postgres first if it is running (both publish 127.0.0.1:55432).
set -euo pipefail
cd "$(dirname "$0")/.."

compose=(docker compose -f docker-compose.dev.yml -p backend-integration)
# The maintenance database, which stays empty: the harness creates its own test_<run>_* databases.
postgres_url="postgresql://backend:backend@127.0.0.1:55432/postgres"

trap '"${compose[@]}" down --volumes --remove-orphans' EXIT
"${compose[@]}" up -d --wait postgres
DBHARNESS_POSTGRES_URL="$postgres_url" uv run nox -s tests-postgres -- "$@"
