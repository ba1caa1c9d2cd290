"""JSON logs, one object a line, to LOG_DIR/combined.log and to stdout.

Like the target application, every record is one JSON object:

    {"timestamp": "...", "level": "ERROR", "name": "<logger>", "message": "...",
     "module": ..., "funcName": ..., "lineno": ..., "pathname": ..., "process": ...,
     "processName": ..., "thread": ..., "threadName": ..., "hostname": ...,
     "service": ..., "exc_info": ["Traceback (most recent call last):", ...]}

`exc_info` (the formatted traceback, one list item per line) is present only
when the record carries an exception; lines of 2,000+ characters are normal.

The file is opened once per process with O_APPEND and never reopened or
rotated, and each record is written with a single write(2), so a reset script
may truncate it in place while the containers keep writing, and lines from
the api, the 8 workers and flower never interleave.
"""
import json
import logging
import os
import socket
import sys
from datetime import datetime, timezone

from app.core.config import settings

HOSTNAME = socket.gethostname()
# api / worker / flower (set per service in docker-compose.yml).
SERVICE = os.environ.get("SERVICE_NAME") or "fastapi-k8-proto"
_configured = False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "name": record.name,
            "message": record.getMessage(),
            "module": record.module,
            "funcName": record.funcName,
            "lineno": record.lineno,
            "pathname": record.pathname,
            "process": record.process,
            "processName": record.processName,
            "thread": record.thread,
            "threadName": record.threadName,
            "hostname": HOSTNAME,
            "service": SERVICE,
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info).splitlines()
        elif record.exc_text:
            entry["exc_info"] = record.exc_text.splitlines()
        if record.stack_info:
            entry["stack_info"] = record.stack_info.splitlines()
        return json.dumps(entry, default=str)


class AppendFileHandler(logging.Handler):
    """Appends each formatted record with one os.write on an O_APPEND descriptor."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
        super().close()


def setup_logging(level: int = logging.INFO) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    formatter = JsonFormatter()
    root = logging.getLogger()
    root.setLevel(level)
    # sys.__stdout__: Celery later redirects sys.stdout into the logging system.
    handlers = [logging.StreamHandler(sys.__stdout__)]
    try:
        os.makedirs(settings.LOG_DIR, exist_ok=True)
        handlers.append(AppendFileHandler(settings.log_file))
    except OSError as exc:  # read-only or missing mount: log to stdout only
        print(f"logging: cannot open {settings.log_file}: {exc}", file=sys.stderr)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    # uvicorn installs its own stdout handler; let its records reach root only,
    # so each line is printed once and also lands in combined.log.
    logging.getLogger("uvicorn").handlers.clear()
    # Quiet libraries that are chatty at INFO.
    for name in ("httpx", "sqlalchemy.engine", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
