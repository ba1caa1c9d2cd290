from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import relationship

from app.core.database import Base
from app.models._common import created_at_column, iso, new_uuid, updated_at_column


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        # One lead per email address across all campaigns (NULL emails allowed).
        Index("ix_leads_email_unique", "email", unique=True,
              postgresql_where=text("email IS NOT NULL")),
    )

    id = Column(String(36), primary_key=True, default=new_uuid)
    campaign_id = Column(String(36), ForeignKey("campaigns.id"), nullable=False, index=True)
    first_name = Column(String(255))
    last_name = Column(String(255))
    email = Column(String(255))
    phone = Column(String(64))
    company = Column(String(255))
    title = Column(String(255))
    linkedin_url = Column(Text)
    raw_data = Column(JSON)
    email_verification = Column(JSON)
    enrichment_data = Column(JSON)          # added by revision 0003
    enriched_at = Column(DateTime(timezone=True))  # added by revision 0003
    created_at = created_at_column()
    updated_at = updated_at_column()

    campaign = relationship("Campaign", back_populates="leads")

    def to_dict(self) -> dict:
        return {"id": self.id, "campaign_id": self.campaign_id, "first_name": self.first_name,
                "last_name": self.last_name, "email": self.email, "phone": self.phone,
                "company": self.company, "title": self.title, "linkedin_url": self.linkedin_url,
                "email_verification": self.email_verification,
                "enrichment_data": self.enrichment_data, "enriched_at": iso(self.enriched_at),
                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at)}
