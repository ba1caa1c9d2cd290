import logging
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import get_current_user, ok
from app.core.database import get_db
from app.models import Organization

router = APIRouter(prefix="/organizations", tags=["organizations"],
                   dependencies=[Depends(get_current_user)])
logger = logging.getLogger(__name__)


class OrganizationIn(BaseModel):
    name: str
    description: Optional[str] = None


@router.post("", status_code=status.HTTP_201_CREATED)
def create_organization(body: OrganizationIn, db: Session = Depends(get_db)):
    org = Organization(name=body.name, description=body.description)
    db.add(org)
    db.commit()
    logger.info("organization created: %s (%s)", org.id, org.name)
    return ok(org.to_dict())


@router.get("")
def list_organizations(db: Session = Depends(get_db)):
    orgs = db.execute(select(Organization).order_by(Organization.created_at)).scalars().all()
    return ok({"organizations": [o.to_dict() for o in orgs], "total": len(orgs)})


@router.get("/{organization_id}")
def get_organization(organization_id: str, db: Session = Depends(get_db)):
    org = db.get(Organization, organization_id)
    if org is None:
        raise HTTPException(status_code=404, detail="organization not found")
    return ok(org.to_dict())
