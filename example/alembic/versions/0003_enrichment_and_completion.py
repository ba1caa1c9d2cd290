"""lead enrichment columns, jobs.completed_at, jobs (campaign_id, job_type) index

Revision ID: 0003_enrichment_and_completion
Revises: 0002_campaigns_leads_jobs
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_enrichment_and_completion"
down_revision = "0002_campaigns_leads_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("enrichment_data", sa.JSON()))
    op.add_column("leads", sa.Column("enriched_at", sa.DateTime(timezone=True)))
    op.add_column("jobs", sa.Column("completed_at", sa.DateTime(timezone=True)))
    op.create_index("ix_jobs_campaign_id_job_type", "jobs", ["campaign_id", "job_type"])


def downgrade() -> None:
    op.drop_index("ix_jobs_campaign_id_job_type", table_name="jobs")
    op.drop_column("jobs", "completed_at")
    op.drop_column("leads", "enriched_at")
    op.drop_column("leads", "enrichment_data")
