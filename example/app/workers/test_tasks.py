"""A task for the reset-and-test suite's own tests, not part of the app being stood in for.

`hold_then_write(seconds)` runs for `seconds`, then writes an organization named "stale work": if
one is found after a reset, a task from before the reset wrote into the fresh database.
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
