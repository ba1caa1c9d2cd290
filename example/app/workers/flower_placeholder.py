"""Stand-in for Celery Flower (Debian bookworm does not package flower).

Serves a tiny JSON API on port 5555: GET / and GET /api/workers return the
workers that answer a Celery ping. Usage: python -m app.workers.flower_placeholder
"""
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from app.workers.celery_app import celery_app


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server naming)
        if self.path.split("?")[0] in ("/", "/api/workers", "/healthcheck"):
            try:
                replies = celery_app.control.ping(timeout=1.0) or []
                workers = sorted(name for reply in replies for name in reply)
                body, code = {"placeholder_for": "flower", "workers": workers}, 200
            except Exception as exc:
                body, code = {"placeholder_for": "flower", "error": str(exc)}, 503
        else:
            body, code = {"error": "not found"}, 404
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args):
        pass


if __name__ == "__main__":
    # PID 1 without init: without a handler SIGTERM would be ignored and every stop would wait
    # the grace period. The real flower stops on SIGTERM and exits as a process it killed: 143.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    print("flower placeholder listening on :5555", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 5555), Handler).serve_forever()
