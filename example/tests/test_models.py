from app.core.database import Base
from app.models import CampaignStatus, JobStatus, JobType


def test_tables_are_registered():
    assert {"users", "organizations", "campaigns", "leads", "jobs"} <= set(Base.metadata.tables)


def test_enum_types_are_named_like_sqlalchemy_would():
    tables = Base.metadata.tables
    assert tables["campaigns"].c.status.type.name == "campaignstatus"
    assert tables["jobs"].c.job_type.type.name == "jobtype"
    assert tables["jobs"].c.status.type.name == "jobstatus"
    assert [m.name for m in CampaignStatus] == ["CREATED", "RUNNING", "PAUSED", "COMPLETED", "FAILED"]
    assert [m.name for m in JobType] == ["FETCH_LEADS", "ENRICH_LEAD", "CLEANUP_CAMPAIGN"]
    assert "PAUSED" in JobStatus.__members__


def test_leads_email_unique_only_when_present():
    index = next(i for i in Base.metadata.tables["leads"].indexes if i.name == "ix_leads_email_unique")
    assert index.unique
    assert "email IS NOT NULL" in str(index.dialect_options["postgresql"]["where"])


def test_foreign_keys_are_not_nullable():
    tables = Base.metadata.tables
    assert tables["campaigns"].c.organization_id.nullable is False
    assert tables["leads"].c.campaign_id.nullable is False
    assert tables["jobs"].c.lead_id.nullable is True
