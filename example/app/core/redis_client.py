"""Shared Redis client (connection pool per process)."""
import redis

from app.core.config import settings

_client = None


def get_redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis(
            host=settings.REDIS_HOST, port=settings.REDIS_PORT, db=settings.REDIS_DB,
            password=settings.REDIS_PASSWORD or None,
            decode_responses=True, socket_timeout=10, socket_connect_timeout=5,
            health_check_interval=30,
        )
    return _client
