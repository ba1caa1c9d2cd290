"""Tasks for the reset-and-test suite's own tests, not part of the app being stood in for.

`hold_then_write(seconds)` runs for `seconds`, then writes an organization named "stale work": if
one is found after a reset, a task from before the reset wrote into the fresh database.
`code_version()` returns CODE_VERSION: a test edits it to see whether a reset loads the code on
disk. `whoami()` returns the worker that ran it.
"""
import time

from app.core.database import SessionLocal
from app.models import Organization
from app.workers.celery_app import celery_app


@celery_app.task(name="app.workers.test_tasks.hold_then_write")
def hold_then_write(seconds: float):
    time.sleep(seconds)
    with SessionLocal() as db:
        db.add(Organization(name="stale work", description="written by a task from before the reset"))
        db.commit()
    return {"status": "written"}


# What the suite's tests edit to see which code a worker runs (a reset must load the code on disk).
CODE_VERSION = "1"


@celery_app.task(name="app.workers.test_tasks.code_version")
def code_version():
    return CODE_VERSION


@celery_app.task(name="app.workers.test_tasks.whoami", bind=True)
def whoami(self, seconds: float = 0.2):
    """Which worker ran it: sent many times, it shows every worker consumes its queue."""
    time.sleep(seconds)
    return self.request.hostname
