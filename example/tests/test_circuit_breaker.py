import json

from app.core.circuit_breaker import SERVICES, CircuitBreaker


class FakeRedis:
    """The handful of Redis commands the circuit breaker uses."""

    def __init__(self):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, nx=False):
        if nx and key in self.data:
            return None
        self.data[key] = str(value)
        return True

    def incr(self, key):
        self.data[key] = str(int(self.data.get(key, 0)) + 1)
        return int(self.data[key])

    def pipeline(self):
        return _Pipeline(self)


class _Pipeline:
    def __init__(self, redis):
        self.redis, self.calls = redis, []

    def __getattr__(self, name):
        return lambda *a, **kw: self.calls.append((name, a, kw))

    def execute(self):
        return [getattr(self.redis, name)(*a, **kw) for name, a, kw in self.calls]


def test_initialize_writes_the_target_key_layout():
    redis = FakeRedis()
    CircuitBreaker(redis).initialize()
    for service in ("perplexity", "openai", "apollo", "instantly", "millionverifier"):
        assert json.loads(redis.data[f"circuit_breaker:{service}"])["state"] == "closed"
        assert redis.data[f"circuit_failures:{service}"] == "0"
        assert redis.data[f"queue_paused:{service}"] == "0"
    assert len(redis.data) == 3 * len(SERVICES)


def test_opens_after_threshold_and_closes_on_success():
    redis = FakeRedis()
    breaker = CircuitBreaker(redis, failure_threshold=3)
    for _ in range(3):
        breaker.record_failure("openai", "rate limited")
    state = json.loads(redis.data["circuit_breaker:openai"])
    assert state["state"] == "open" and state["opened_at"] and state["metadata"]["reason"] == "rate limited"
    assert redis.data["queue_paused:openai"] == "1"
    assert not breaker.should_allow_request("openai")
    assert breaker.should_allow_request("perplexity")
    breaker.record_success("openai")
    assert breaker.get_state("openai")["state"] == "closed"
    assert redis.data["circuit_failures:openai"] == "0"


def test_global_key_is_tolerated():
    redis = FakeRedis()
    breaker = CircuitBreaker(redis)
    assert breaker.get_global_state() is None
    redis.set("circuit_breaker:global", json.dumps({"state": "open", "opened_at": 1, "metadata": {}}))
    assert not breaker.should_allow_request("apollo")
    assert set(breaker.get_all_states()) == set(SERVICES)
