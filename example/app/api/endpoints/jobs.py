import math
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.deps import get_current_user, ok
from app.core.database import get_db
from app.models import Job, JobStatus, JobType

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Depends(get_current_user)])


def _enum(enum_cls, value: Optional[str]):
    if value is None:
        return None
    for member in enum_cls:
        if value.lower() in (member.name.lower(), member.value.lower()):
            return member
    raise HTTPException(status_code=400, detail=f"unknown {enum_cls.__name__}: {value}")


@router.get("")
def list_jobs(campaign_id: Optional[str] = None, job_type: Optional[str] = None,
              status: Optional[str] = None, page: int = Query(1, ge=1),
              per_page: int = Query(100, ge=1, le=1000), db: Session = Depends(get_db)):
    conditions = []
    if campaign_id:
        conditions.append(Job.campaign_id == campaign_id)
    if job_type:
        conditions.append(Job.job_type == _enum(JobType, job_type))
    if status:
        conditions.append(Job.status == _enum(JobStatus, status))
    total = db.execute(select(func.count()).select_from(Job).where(*conditions)).scalar_one()
    jobs = db.execute(select(Job).where(*conditions).order_by(Job.id)
                      .offset((page - 1) * per_page).limit(per_page)).scalars().all()
    return ok({"jobs": [j.to_dict() for j in jobs], "total": total, "page": page,
               "per_page": per_page, "pages": max(1, math.ceil(total / per_page))})


@router.get("/{job_id}")
def get_job(job_id: int, db: Session = Depends(get_db)):
    job = db.get(Job, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail="job not found")
    return ok(job.to_dict())
