import logging
import uuid
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import get_current_user, ok
from app.core.database import get_db
from app.models import Campaign, CampaignStatus, Job, JobStatus, JobType, Lead, Organization

router = APIRouter(prefix="/campaigns", tags=["campaigns"], dependencies=[Depends(get_current_user)])
logger = logging.getLogger(__name__)


class CampaignIn(BaseModel):
    organization_id: str
    name: str
    description: Optional[str] = None
    fileName: Optional[str] = None
    totalRecords: int = Field(10, ge=0, le=1000)
    url: Optional[str] = None
    auto_start: bool = True   # the target app needs POST /campaigns/{id}/start; here it is implied


def _get_campaign(db: Session, campaign_id: str) -> Campaign:
    campaign = db.get(Campaign, campaign_id)
    if campaign is None:
        raise HTTPException(status_code=404, detail="campaign not found")
    return campaign


def _start(db: Session, campaign: Campaign) -> Job:
    from app.workers.campaign_tasks import fetch_leads

    job = Job(name=f"Fetch leads for {campaign.name}", job_type=JobType.FETCH_LEADS,
              status=JobStatus.PENDING, campaign_id=campaign.id, task_id=str(uuid.uuid4()),
              description=f"Fetch {campaign.totalRecords} leads")
    db.add(job)
    campaign.status = CampaignStatus.RUNNING
    campaign.status_message = "Fetching leads"
    db.commit()
    fetch_leads.apply_async(args=[job.id], task_id=job.task_id)
    logger.info("campaign %s started: FETCH_LEADS job %s (task %s)", campaign.id, job.id, job.task_id)
    return job


@router.post("", status_code=status.HTTP_201_CREATED)
def create_campaign(body: CampaignIn, db: Session = Depends(get_db)):
    if db.get(Organization, body.organization_id) is None:
        raise HTTPException(status_code=400, detail="organization_id does not exist")
    campaign = Campaign(organization_id=body.organization_id, name=body.name,
                        description=body.description, fileName=body.fileName,
                        totalRecords=body.totalRecords, url=body.url,
                        status=CampaignStatus.CREATED)
    db.add(campaign)
    db.commit()
    logger.info("campaign created: %s (%s, %d leads)", campaign.id, campaign.name, campaign.totalRecords)
    if body.auto_start:
        _start(db, campaign)
    return ok(campaign.to_dict())


@router.post("/{campaign_id}/start")
def start_campaign(campaign_id: str, db: Session = Depends(get_db)):
    campaign = _get_campaign(db, campaign_id)
    if campaign.status == CampaignStatus.CREATED:
        _start(db, campaign)
    return ok(campaign.to_dict())


@router.get("")
def list_campaigns(organization_id: Optional[str] = None, db: Session = Depends(get_db)):
    query = select(Campaign).order_by(Campaign.created_at)
    if organization_id:
        query = query.where(Campaign.organization_id == organization_id)
    campaigns = db.execute(query).scalars().all()
    return ok({"campaigns": [c.to_dict() for c in campaigns], "total": len(campaigns)})


@router.get("/{campaign_id}")
def get_campaign(campaign_id: str, db: Session = Depends(get_db)):
    return ok(_get_campaign(db, campaign_id).to_dict())


@router.get("/{campaign_id}/leads")
def get_campaign_leads(campaign_id: str, db: Session = Depends(get_db)):
    _get_campaign(db, campaign_id)
    leads = db.execute(select(Lead).where(Lead.campaign_id == campaign_id)
                       .order_by(Lead.created_at, Lead.id)).scalars().all()
    return ok({"leads": [lead.to_dict() for lead in leads], "total": len(leads)})
