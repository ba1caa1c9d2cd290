"""Block until PostgreSQL and Redis accept connections (api start-up, restarts).

`docker-compose restart` restarts every container at once, ignoring
depends_on, so the api must not run migrations before the database is back.
Usage: python -m app.core.wait_for_services [timeout_seconds]
"""
import sys
import time

from sqlalchemy import text


def wait(timeout: float = 60.0) -> bool:
    from app.core.database import engine
    from app.core.redis_client import get_redis

    deadline = time.monotonic() + timeout
    pending = {"postgres", "redis"}
    last_error = {}
    while pending and time.monotonic() < deadline:
        if "postgres" in pending:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                pending.discard("postgres")
            except Exception as exc:
                last_error["postgres"] = exc
        if "redis" in pending:
            try:
                get_redis().ping()
                pending.discard("redis")
            except Exception as exc:
                last_error["redis"] = exc
        if pending:
            time.sleep(0.5)
    engine.dispose()
    for name in sorted(pending):
        print(f"wait_for_services: {name} not reachable after {timeout:.0f}s: {last_error.get(name)}",
              file=sys.stderr)
    return not pending


if __name__ == "__main__":
    sys.exit(0 if wait(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0) else 1)
