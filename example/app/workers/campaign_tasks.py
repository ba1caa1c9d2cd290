"""Campaign pipeline: FETCH_LEADS -> one ENRICH_LEAD job per lead.

Like the real app, a campaign stays RUNNING when its work is done: nothing in this flow moves it
to COMPLETED (measured on the real app: after a good run all 10 campaigns are RUNNING). Only a
failed fetch marks it FAILED, and an open circuit breaker PAUSED.
"""
import json
import logging
import random
import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from app.background_services.mock_apify import MockApifyClient
from app.core.circuit_breaker import circuit_breaker
from app.core.database import SessionLocal
from app.models import Campaign, CampaignStatus, Job, JobStatus, JobType, Lead
from app.workers.celery_app import celery_app

logger = logging.getLogger(__name__)

ENRICH_SERVICES = ("millionverifier", "perplexity", "openai")
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def _now():
    return datetime.now(timezone.utc)


def _result(hostname: str, **extra) -> str:
    return json.dumps({"worker": hostname, **extra})


@celery_app.task(name="app.workers.campaign_tasks.fetch_leads", bind=True)
def fetch_leads(self, job_id: int):
    worker = self.request.hostname or "unknown"
    with SessionLocal() as db:
        job = db.get(Job, job_id)
        if job is None:
            logger.warning("[%s] fetch_leads: job %s not found", worker, job_id)
            return {"status": "missing", "job_id": job_id}
        campaign = db.get(Campaign, job.campaign_id)
        job.status = JobStatus.PROCESSING
        db.commit()
        logger.info("[%s] fetch_leads job=%s campaign=%s wanted=%s",
                    worker, job.id, campaign.id, campaign.totalRecords)
        try:
            lead_ids = _save_new_leads(db, campaign, campaign.totalRecords)
            enrich_jobs = []
            for lead_id in lead_ids:
                enrich = Job(name=f"Enrich lead {lead_id}", job_type=JobType.ENRICH_LEAD,
                             status=JobStatus.PENDING, campaign_id=campaign.id,
                             lead_id=lead_id, task_id=str(uuid.uuid4()),
                             description=f"Enrich lead for campaign {campaign.name}")
                db.add(enrich)
                enrich_jobs.append(enrich)
            job.status = JobStatus.COMPLETED
            job.completed_at = _now()
            job.result = _result(worker, leads_requested=campaign.totalRecords,
                                 leads_saved=len(lead_ids))
            if not lead_ids:
                campaign.status_message = "No leads returned by the lead source"
            else:
                campaign.status_message = (f"Fetched {len(lead_ids)} of {campaign.totalRecords} "
                                           "requested leads; enriching")
            db.commit()
            # Dispatch only after the jobs are committed, so workers can see them.
            for enrich in enrich_jobs:
                enrich_lead.apply_async(args=[enrich.id], task_id=enrich.task_id)
            logger.info("[%s] fetch_leads job=%s campaign=%s saved=%d dispatched=%d enrich jobs",
                        worker, job.id, campaign.id, len(lead_ids), len(enrich_jobs))
            return {"status": "completed", "leads": len(lead_ids)}
        except Exception as exc:
            db.rollback()
            logger.exception("[%s] fetch_leads job=%s failed", worker, job_id)
            job = db.get(Job, job_id)
            job.status, job.error, job.completed_at = JobStatus.FAILED, str(exc), _now()
            campaign = db.get(Campaign, job.campaign_id)
            campaign.status, campaign.status_message = CampaignStatus.FAILED, f"Fetching leads failed: {exc}"
            db.commit()
            raise


def _save_new_leads(db, campaign, wanted: int):
    """Ask the mock source for `wanted` leads (it returns fewer, unevenly) and insert them.

    No top-up: a campaign keeps what one fetch returned, like the target app.
    A lead whose email is already stored is skipped.
    """
    saved = []
    for item in MockApifyClient().fetch_leads(wanted):
        lead_id = str(uuid.uuid4())
        stmt = pg_insert(Lead.__table__).values(
            id=lead_id, campaign_id=campaign.id, first_name=item.get("first_name"),
            last_name=item.get("last_name"), email=item.get("email"),
            phone=item.get("phone"), company=item.get("company"), title=item.get("title"),
            linkedin_url=item.get("linkedin_url"), raw_data=item,
        ).on_conflict_do_nothing(index_elements=["email"],
                                 index_where=Lead.__table__.c.email.isnot(None))
        if db.execute(stmt).rowcount:
            saved.append(lead_id)
        else:
            logger.info("lead with email %s already stored; skipped", item.get("email"))
    return saved


@celery_app.task(name="app.workers.campaign_tasks.enrich_lead", bind=True)
def enrich_lead(self, job_id: int):
    worker = self.request.hostname or "unknown"
    with SessionLocal() as db:
        job = db.get(Job, job_id)
        if job is None:
            logger.warning("[%s] enrich_lead: job %s not found", worker, job_id)
            return {"status": "missing", "job_id": job_id}
        blocked = [s for s in ENRICH_SERVICES if not circuit_breaker.should_allow_request(s)]
        if blocked:
            job.status = JobStatus.PAUSED
            job.error = f"circuit breaker open: {', '.join(blocked)}"
            campaign = db.get(Campaign, job.campaign_id)
            campaign.status = CampaignStatus.PAUSED
            campaign.status_message = job.error
            db.commit()
            logger.warning("[%s] enrich_lead job=%s paused: %s", worker, job.id, job.error)
            return {"status": "paused"}
        job.status = JobStatus.PROCESSING
        db.commit()
        lead = db.get(Lead, job.lead_id)
        try:
            time.sleep(random.uniform(0.05, 0.2))   # stand-in for the third-party calls
            lead.email_verification = {"result": "ok", "provider": "millionverifier-mock",
                                       "email": lead.email}
            lead.enrichment_data = {
                "summary": f"{lead.first_name} {lead.last_name} is {lead.title} at {lead.company}.",
                "icebreaker": f"Saw what {lead.company} is building - impressive.",
                "provider": "perplexity-mock+openai-mock",
            }
            lead.enriched_at = _now()
            job.status, job.completed_at = JobStatus.COMPLETED, _now()
            job.result = _result(worker, lead_email=lead.email)
            db.commit()
            for service in ENRICH_SERVICES:
                circuit_breaker.record_success(service)
        except Exception as exc:
            db.rollback()
            logger.exception("[%s] enrich_lead job=%s failed", worker, job_id)
            circuit_breaker.record_failure("perplexity", str(exc), type(exc).__name__)
            job = db.get(Job, job_id)
            job.status, job.error, job.completed_at = JobStatus.FAILED, str(exc), _now()
            db.commit()
        logger.info("[%s] enrich_lead job=%s lead=%s campaign=%s -> %s",
                    worker, job.id, job.lead_id, job.campaign_id, job.status.name)
        _note_campaign_progress(db, job.campaign_id, worker)
        return {"status": job.status.value}


def _note_campaign_progress(db, campaign_id: str, worker: str) -> None:
    # The campaign stays RUNNING (as in the real app); its message says how far enrichment got.
    # Lock the campaign row: the last two enrich jobs of a campaign cannot both miss each
    # other's commit, because the second one waits for the first.
    campaign = db.execute(select(Campaign).where(Campaign.id == campaign_id)
                          .with_for_update()).scalar_one()
    if campaign.status != CampaignStatus.RUNNING:
        db.commit()
        return
    counts = dict(db.execute(
        select(Job.status, func.count()).where(Job.campaign_id == campaign_id,
                                               Job.job_type == JobType.ENRICH_LEAD)
        .group_by(Job.status)).all())
    unfinished = sum(n for status, n in counts.items() if status not in FINISHED)
    if unfinished == 0:
        failed = counts.get(JobStatus.FAILED, 0)
        done = counts.get(JobStatus.COMPLETED, 0)
        campaign.status_message = f"Enriched {done} leads" + (f", {failed} failed" if failed else "")
        logger.info("[%s] campaign %s: every lead enriched (%d, %d failed); still RUNNING", worker, campaign_id, done, failed)
    db.commit()
