from fastapi import APIRouter
from sqlalchemy import text

from app.core.database import engine
from app.core.redis_client import get_redis

router = APIRouter()


# Declared with a trailing slash, like the target app: GET /api/v1/health
# answers 307 Temporary Redirect to /api/v1/health/ (Starlette's redirect_slashes).
@router.get("/health/")
def health():
    """Liveness plus a quick database and Redis probe (never raises)."""
    checks = {}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, do not fail the liveness answer
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    return {"status": "healthy", "checks": checks}
