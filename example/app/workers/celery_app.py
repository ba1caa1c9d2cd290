"""Celery application: Redis broker and result backend (REDIS_HOST/PORT/DB/PASSWORD)."""
import logging

from celery import Celery
from celery.signals import setup_logging as celery_setup_logging
from celery.signals import worker_process_init, worker_shutting_down

from app.core.config import settings

celery_app = Celery(
    "fastapi_k8_proto",
    broker=settings.redis_url,
    backend=settings.redis_url,
    include=["app.workers.campaign_tasks", "app.workers.test_tasks"],
)
celery_app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    result_expires=3600,
    timezone="UTC",
    enable_utc=True,
    worker_prefetch_multiplier=1,     # one task at a time per process: spreads work
    task_acks_late=False,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 3600},
)

# `celery -A app.workers.celery_app` finds `app` or `celery`.
app = celery_app


@celery_setup_logging.connect
def _configure_logging(**_kwargs):
    """Use the shared combined.log handler instead of Celery's own setup."""
    from app.core.logging_config import setup_logging
    setup_logging()


@worker_process_init.connect
def _reset_connections(**_kwargs):
    """Forked pool processes must not share the parent's DB connections."""
    from app.core.database import engine
    engine.dispose(close=False)


@worker_shutting_down.connect
def _on_worker_shutting_down(sender=None, sig=None, how=None, exitcode=None, **_kwargs):
    """Copies a quirk of the target app: its shutdown handler raises AttributeError.

    `sender` is the worker's hostname (a str), not the worker object the
    handler expects, so `sender.hostname` raises AttributeError. Celery's
    signal dispatcher catches it and logs it at ERROR with the traceback
    (logger `celery.utils.dispatch.signal`), then the warm shutdown goes on as
    usual: every stopped worker puts one ERROR line into combined.log.
    Deliberate, keep it: the reset-and-test suite must cope with this noise.
    """
    logging.getLogger(__name__).info("worker %s: %s shutdown on %s", sender, how, sig)
    hostname = sender.hostname  # AttributeError: 'str' object has no attribute 'hostname'
    logging.getLogger(__name__).info("worker %s: shutdown hooks done", hostname)
