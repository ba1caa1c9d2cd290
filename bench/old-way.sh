#!/usr/bin/env bash
# old-way: what reset_and_run_concurrent_campaigns_test.sh did, minus its prompt and the test:
# container names grepped from `docker ps`, every database and Redis step a fresh `python -c`
# in the api container, five TRUNCATE ... CASCADE statements, COUNT(*) and KEYS * to verify.
# --full adds its phase 3: down -v, up --build -d, sleep 15, then poll for "healthy" up to 60 s.
# A benchmark contender only: never use this to reset anything you care about.
set -eu
cd "$(dirname "$0")/../example"
compose=(docker-compose)
docker compose version >/dev/null 2>&1 && compose=(docker compose)
project=reset-and-test-example
find_api() { api=$(docker ps --format '{{.Names}}' | grep -E "$project[-_]api[-_]1" | head -1); }
py() { docker exec "$api" python -c "$1" >/dev/null; }
redis="import redis; from app.core.config import settings; r = redis.Redis(host=settings.REDIS_HOST, port=settings.REDIS_PORT, password=settings.REDIS_PASSWORD or None)"
find_api

# Phase 1: environment
docker ps | grep -q "$project"
py "from app.core.database import SessionLocal; from sqlalchemy import text; s = SessionLocal(); s.execute(text('SELECT 1')); s.close()"
py "$redis; r.ping()"
test -w logs/combined.log
docker exec "$api" test -f app/background_services/smoke_tests/test_concurrent_campaigns_flow.py

# Phase 2: log
: > logs/combined.log
[ ! -s logs/combined.log ]

# Phase 3: containers (only with --full)
if [ "${1:-}" = "--full" ]; then
  "${compose[@]}" down -v >/dev/null 2>&1 || true   # Docker 20.10 may keep the network ("active endpoints")
  "${compose[@]}" up --build -d >/dev/null 2>&1
  sleep 15
  for _ in $(seq 1 12); do
    "${compose[@]}" ps | grep -q healthy && break
    sleep 5
  done
  find_api
  until docker exec "$api" python -c "import urllib.request; urllib.request.urlopen('http://localhost:8000/api/v1/health')" >/dev/null 2>&1; do sleep 1; done
fi

# Phase 4: database, one python -c per statement
for table in jobs leads campaigns organizations users; do
  py "from app.core.database import SessionLocal; from sqlalchemy import text; s = SessionLocal(); s.execute(text('TRUNCATE TABLE $table CASCADE')); s.commit(); s.close()"
done
for table in jobs leads campaigns organizations users; do
  py "from app.core.database import SessionLocal; from sqlalchemy import text; s = SessionLocal(); print(s.execute(text('SELECT COUNT(*) FROM $table')).scalar()); s.close()"
done

# Phase 5: Redis
py "$redis; r.flushall()"
py "$redis; print(r.keys('*'))"
