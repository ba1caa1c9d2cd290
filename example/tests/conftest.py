import os
import sys
import tempfile

# Keep unit-test log lines (e.g. a deliberately opened circuit breaker) out of
# the shared logs/combined.log that the running stack and reset scripts use.
os.environ["LOG_DIR"] = tempfile.mkdtemp(prefix="pytest-logs-")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
