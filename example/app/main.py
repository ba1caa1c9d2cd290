"""FastAPI application: every route lives under /api/v1."""
import logging
import time

from fastapi import FastAPI, Request

from app.api.endpoints import auth, campaigns, health, jobs, leads, organizations, queue_management
from app.core.config import settings
from app.core.logging_config import setup_logging

setup_logging()
logger = logging.getLogger("app.api")

app = FastAPI(title=settings.PROJECT_NAME, openapi_url=f"{settings.API_V1_STR}/openapi.json")

for module in (health, auth, organizations, campaigns, leads, jobs, queue_management):
    app.include_router(module.router, prefix=settings.API_V1_STR)


@app.middleware("http")
async def log_requests(request: Request, call_next):
    started = time.perf_counter()
    try:
        response = await call_next(request)
    except Exception:
        logger.exception("%s %s failed", request.method, request.url.path)
        raise
    elapsed_ms = (time.perf_counter() - started) * 1000
    if request.url.path.rstrip("/").endswith("/health") and response.status_code < 400:
        return response  # readiness probes would drown the log
    level = logging.ERROR if response.status_code >= 500 else logging.INFO
    logger.log(level, "%s %s -> %d (%.1f ms)", request.method, request.url.path,
               response.status_code, elapsed_ms)
    return response


@app.on_event("startup")
def _startup():
    from app.core.circuit_breaker import circuit_breaker
    try:
        circuit_breaker.initialize()
    except Exception as exc:  # Redis may still be starting; keys are created lazily too
        logger.warning("circuit breaker keys not initialised: %s", exc)
    logger.info("API started")
