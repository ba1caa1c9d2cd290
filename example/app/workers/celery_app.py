"""Celery application: Redis broker and result backend (REDIS_HOST/PORT/DB)."""
from celery import Celery
from celery.signals import setup_logging as celery_setup_logging
from celery.signals import worker_process_init

from app.core.config import settings

celery_app = Celery(
    "fastapi_k8_proto",
    broker=settings.redis_url,
    backend=settings.redis_url,
    include=["app.workers.campaign_tasks"],
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
