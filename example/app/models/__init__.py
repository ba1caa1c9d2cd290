"""ORM models; importing this package registers every table on Base.metadata."""
from app.models.user import User
from app.models.organization import Organization
from app.models.campaign import Campaign, CampaignStatus
from app.models.lead import Lead
from app.models.job import Job, JobStatus, JobType

__all__ = ["User", "Organization", "Campaign", "CampaignStatus", "Lead", "Job", "JobStatus", "JobType"]
