"""campaigns, leads and jobs with their enum types

Revision ID: 0002_campaigns_leads_jobs
Revises: 0001_initial
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0002_campaigns_leads_jobs"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# Labels are the Python enum NAMES, as SQLAlchemy's Enum(PyEnum) stores them.
campaignstatus = postgresql.ENUM("CREATED", "RUNNING", "PAUSED", "COMPLETED", "FAILED",
                                 name="campaignstatus", create_type=False)
jobtype = postgresql.ENUM("FETCH_LEADS", "ENRICH_LEAD", "CLEANUP_CAMPAIGN",
                          name="jobtype", create_type=False)
jobstatus = postgresql.ENUM("PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED", "PAUSED",
                            name="jobstatus", create_type=False)
ENUMS = (campaignstatus, jobtype, jobstatus)


def _timestamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    for enum in ENUMS:
        enum.create(bind, checkfirst=True)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("organization_id", sa.String(36), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("status", campaignstatus, nullable=False, server_default="CREATED"),
        sa.Column("status_message", sa.Text()),
        sa.Column("fileName", sa.String(255)),
        sa.Column("totalRecords", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("url", sa.Text()),
        *_timestamps(),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_campaigns_organization_id", "campaigns", ["organization_id"])

    op.create_table(
        "leads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("first_name", sa.String(255)),
        sa.Column("last_name", sa.String(255)),
        sa.Column("email", sa.String(255)),
        sa.Column("phone", sa.String(64)),
        sa.Column("company", sa.String(255)),
        sa.Column("title", sa.String(255)),
        sa.Column("linkedin_url", sa.Text()),
        sa.Column("raw_data", sa.JSON()),
        sa.Column("email_verification", sa.JSON()),
        *_timestamps(),
    )
    op.create_index("ix_leads_campaign_id", "leads", ["campaign_id"])
    op.create_index("ix_leads_email_unique", "leads", ["email"], unique=True,
                    postgresql_where=sa.text("email IS NOT NULL"))

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),   # serial
        sa.Column("task_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("job_type", jobtype, nullable=False),
        sa.Column("status", jobstatus, nullable=False, server_default="PENDING"),
        sa.Column("result", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), nullable=True),
        sa.Column("lead_id", sa.String(36), sa.ForeignKey("leads.id"), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("task_id", name="uq_jobs_task_id"),
    )
    op.create_index("ix_jobs_campaign_id", "jobs", ["campaign_id"])
    op.create_index("ix_jobs_job_type", "jobs", ["job_type"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("leads")
    op.drop_table("campaigns")
    bind = op.get_bind()
    for enum in reversed(ENUMS):
        enum.drop(bind, checkfirst=True)
