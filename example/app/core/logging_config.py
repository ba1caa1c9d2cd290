"""One log file for every process: LOG_DIR/combined.log, append mode.

The file is opened once per process and never reopened or rotated, so a
reset script may truncate it in place while the containers keep writing
(O_APPEND puts every new line at the new end of the file).
"""
import logging
import os
import socket
import sys

from app.core.config import settings

FORMAT = "%(asctime)s | %(levelname)-7s | %(hostname)s | %(processName)s[%(process)d] | %(name)s | %(message)s"
_configured = False


class _HostnameFilter(logging.Filter):
    hostname = socket.gethostname()

    def filter(self, record: logging.LogRecord) -> bool:
        record.hostname = self.hostname
        return True


def setup_logging(level: int = logging.INFO) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    formatter = logging.Formatter(FORMAT)
    root = logging.getLogger()
    root.setLevel(level)
    handlers = [logging.StreamHandler(sys.stdout)]
    try:
        os.makedirs(settings.LOG_DIR, exist_ok=True)
        handlers.append(logging.FileHandler(settings.log_file, mode="a", encoding="utf-8"))
    except OSError as exc:  # read-only or missing mount: log to stdout only
        print(f"logging: cannot open {settings.log_file}: {exc}", file=sys.stderr)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(_HostnameFilter())
        root.addHandler(handler)
    # uvicorn installs its own stdout handler; let its records reach root only,
    # so each line is printed once and also lands in combined.log.
    logging.getLogger("uvicorn").handlers.clear()
    # Quiet libraries that are chatty at INFO.
    for name in ("httpx", "sqlalchemy.engine", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
