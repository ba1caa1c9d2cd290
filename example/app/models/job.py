import enum
import json

from sqlalchemy import Column, DateTime, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

from app.core.database import Base
from app.models._common import created_at_column, iso, updated_at_column


class JobStatus(str, enum.Enum):
    # Database enum "jobstatus" stores the NAMES; the API reports the values.
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"


class JobType(str, enum.Enum):
    FETCH_LEADS = "FETCH_LEADS"
    ENRICH_LEAD = "ENRICH_LEAD"
    CLEANUP_CAMPAIGN = "CLEANUP_CAMPAIGN"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_campaign_id_job_type", "campaign_id", "job_type"),)

    id = Column(Integer, primary_key=True)
    task_id = Column(String(255), unique=True, nullable=True)
    name = Column(String(255), nullable=False)
    description = Column(Text)
    job_type = Column(Enum(JobType, name="jobtype"), nullable=False, index=True)
    status = Column(Enum(JobStatus, name="jobstatus"), nullable=False, default=JobStatus.PENDING)
    result = Column(Text)   # JSON text; includes the worker hostname that ran the job
    error = Column(Text)
    campaign_id = Column(String(36), ForeignKey("campaigns.id"), nullable=True, index=True)
    lead_id = Column(String(36), ForeignKey("leads.id"), nullable=True)
    created_at = created_at_column()
    updated_at = updated_at_column()
    completed_at = Column(DateTime(timezone=True))  # added by revision 0003

    campaign = relationship("Campaign", back_populates="jobs")

    def to_dict(self) -> dict:
        try:
            result = json.loads(self.result) if self.result else None
        except ValueError:
            result = self.result
        worker = result.get("worker") if isinstance(result, dict) else None
        return {"id": self.id, "task_id": self.task_id, "name": self.name,
                "description": self.description, "job_type": self.job_type.value,
                "status": self.status.value, "result": result, "worker": worker,
                "error": self.error, "campaign_id": self.campaign_id, "lead_id": self.lead_id,
                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
                "completed_at": iso(self.completed_at)}
