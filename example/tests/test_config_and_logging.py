import json
import logging

from app.core.config import Settings
from app.core.logging_config import JsonFormatter


def test_redis_url_percent_encodes_the_password(monkeypatch):
    monkeypatch.setenv("REDIS_PASSWORD", "Kq7@r3d:1s/9x!Z")
    monkeypatch.setenv("REDIS_HOST", "redis")
    url = Settings().redis_url
    assert url == "redis://:Kq7%40r3d%3A1s%2F9x%21Z@redis:6379/0"
    from kombu.utils.url import url_to_parts
    assert url_to_parts(url).password == "Kq7@r3d:1s/9x!Z"


def test_redis_url_without_password(monkeypatch):
    monkeypatch.setenv("REDIS_PASSWORD", "")
    monkeypatch.setenv("REDIS_HOST", "redis")
    assert Settings().redis_url == "redis://redis:6379/0"


def _record(exc_info=None):
    return logging.LogRecord("celery.utils.dispatch.signal", logging.ERROR, __file__, 42,
                             "Signal handler %r raised: %r", ("h", "boom"), exc_info)


def test_log_lines_are_json_objects_like_the_target():
    entry = json.loads(JsonFormatter().format(_record()))
    assert entry["level"] == "ERROR" and entry["name"] == "celery.utils.dispatch.signal"
    assert entry["message"] == "Signal handler 'h' raised: 'boom'"
    for key in ("timestamp", "module", "funcName", "lineno", "process", "thread", "hostname", "service"):
        assert key in entry
    assert "exc_info" not in entry


def test_exceptions_are_logged_as_a_list_of_traceback_lines():
    try:
        "worker-host".hostname  # noqa: B018 (the workers' shutdown quirk)
    except AttributeError:
        import sys
        line = JsonFormatter().format(_record(sys.exc_info()))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["exc_info"][0] == "Traceback (most recent call last):"
    assert entry["exc_info"][-1] == "AttributeError: 'str' object has no attribute 'hostname'"


def test_worker_shutdown_handler_raises_and_celery_logs_it_at_error(caplog):
    from celery.signals import worker_shutting_down
    import app.workers.celery_app  # noqa: F401 (connects the handler)
    with caplog.at_level(logging.INFO):
        worker_shutting_down.send(sender="celery@worker-1", sig="SIGTERM", how="Warm", exitcode=0)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].name == "celery.utils.dispatch.signal"
    assert errors[0].exc_info and errors[0].exc_info[0] is AttributeError
