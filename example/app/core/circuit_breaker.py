"""Per-service circuit breaker kept in Redis, in the target app's key layout.

    circuit_breaker:<service>   JSON {"state": closed|open|half_open, "opened_at", "metadata"}
    circuit_failures:<service>  integer, consecutive failures
    queue_paused:<service>      "1" while the service's jobs are paused, else "0"

An optional `circuit_breaker:global` key (the planned single global breaker)
is honoured when present: if it is open, every service counts as open.
"""
import json
import logging
import time
from typing import Optional

from app.core.redis_client import get_redis

logger = logging.getLogger(__name__)

SERVICES = ("perplexity", "openai", "apollo", "instantly", "millionverifier")
GLOBAL_KEY = "circuit_breaker:global"
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def state_key(service: str) -> str:
    return f"circuit_breaker:{service}"


def failures_key(service: str) -> str:
    return f"circuit_failures:{service}"


def paused_key(service: str) -> str:
    return f"queue_paused:{service}"


class CircuitBreaker:
    def __init__(self, redis_client=None, failure_threshold: int = 5, recovery_timeout: float = 60.0):
        self._redis = redis_client
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout

    @property
    def redis(self):
        return self._redis if self._redis is not None else get_redis()

    # -- state -------------------------------------------------------------
    @staticmethod
    def _closed_state(metadata: Optional[dict] = None) -> dict:
        return {"state": CLOSED, "opened_at": None, "metadata": metadata or {}}

    def _read(self, key: str) -> Optional[dict]:
        raw = self.redis.get(key)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return data if isinstance(data, dict) and "state" in data else None
        except ValueError:
            return None

    def initialize(self) -> None:
        """Create missing keys for every service (closed, 0 failures, not paused)."""
        pipe = self.redis.pipeline()
        for service in SERVICES:
            pipe.set(state_key(service), json.dumps(self._closed_state()), nx=True)
            pipe.set(failures_key(service), 0, nx=True)
            pipe.set(paused_key(service), 0, nx=True)
        pipe.execute()

    def get_global_state(self) -> Optional[dict]:
        return self._read(GLOBAL_KEY)

    def get_state(self, service: str) -> dict:
        data = self._read(state_key(service)) or self._closed_state()
        if data["state"] == OPEN and data.get("opened_at") and \
                time.time() - float(data["opened_at"]) >= self.recovery_timeout:
            data["state"] = HALF_OPEN
        return data

    def get_all_states(self) -> dict:
        states = {}
        for service in SERVICES:
            data = self.get_state(service)
            failures = self.redis.get(failures_key(service))
            paused = self.redis.get(paused_key(service))
            states[service] = {
                "state": data["state"], "opened_at": data.get("opened_at"),
                "metadata": data.get("metadata") or {},
                "failure_count": int(failures or 0),
                "queue_paused": str(paused) in ("1", "true", "True"),
            }
        return states

    def should_allow_request(self, service: str) -> bool:
        global_state = self.get_global_state()
        if global_state and global_state.get("state") == OPEN:
            return False
        return self.get_state(service)["state"] != OPEN

    # -- transitions -------------------------------------------------------
    def record_success(self, service: str) -> None:
        data = self._read(state_key(service))
        pipe = self.redis.pipeline()
        pipe.set(failures_key(service), 0)
        if data is None or data["state"] != CLOSED:
            if data is not None:
                logger.info("circuit breaker %s closed after a successful call", service)
            pipe.set(state_key(service), json.dumps(self._closed_state()))
            pipe.set(paused_key(service), 0)
        pipe.execute()

    def record_failure(self, service: str, error: str, error_type: str = "error") -> str:
        failures = self.redis.incr(failures_key(service))
        data = self.get_state(service)
        if data["state"] == HALF_OPEN or (data["state"] == CLOSED and failures >= self.failure_threshold):
            self.open(service, reason=error, error_type=error_type, failures=failures)
            return OPEN
        logger.warning("circuit breaker %s: failure %d/%d: %s", service, failures,
                       self.failure_threshold, error)
        return data["state"]

    def open(self, service: str, reason: str, **metadata) -> None:
        state = {"state": OPEN, "opened_at": time.time(), "metadata": {"reason": reason, **metadata}}
        pipe = self.redis.pipeline()
        pipe.set(state_key(service), json.dumps(state))
        pipe.set(paused_key(service), 1)
        pipe.execute()
        logger.error("circuit breaker %s OPENED: %s", service, reason)

    def close(self, service: str) -> None:
        pipe = self.redis.pipeline()
        pipe.set(state_key(service), json.dumps(self._closed_state()))
        pipe.set(failures_key(service), 0)
        pipe.set(paused_key(service), 0)
        pipe.execute()
        logger.info("circuit breaker %s closed manually", service)


circuit_breaker = CircuitBreaker()
