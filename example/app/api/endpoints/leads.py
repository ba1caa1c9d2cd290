from typing import Optional

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import get_current_user, ok
from app.core.database import get_db
from app.models import Lead

router = APIRouter(prefix="/leads", tags=["leads"], dependencies=[Depends(get_current_user)])


@router.get("")
def list_leads(campaign_id: Optional[str] = None, db: Session = Depends(get_db)):
    query = select(Lead).order_by(Lead.created_at, Lead.id)
    if campaign_id:
        query = query.where(Lead.campaign_id == campaign_id)
    leads = db.execute(query).scalars().all()
    return ok({"leads": [lead.to_dict() for lead in leads], "total": len(leads)})


@router.get("/{lead_id}")
def get_lead(lead_id: str, db: Session = Depends(get_db)):
    lead = db.get(Lead, lead_id)
    if lead is None:
        raise HTTPException(status_code=404, detail="lead not found")
    return ok(lead.to_dict())
