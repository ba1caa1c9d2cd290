import enum

from sqlalchemy import Column, DateTime, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from app.core.database import Base
from app.models._common import created_at_column, iso, new_uuid, updated_at_column


class CampaignStatus(str, enum.Enum):
    # The database enum type "campaignstatus" stores the NAMES (CREATED, ...);
    # the API reports the lowercase values, like the target app.
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"


class Campaign(Base):
    __tablename__ = "campaigns"

    id = Column(String(36), primary_key=True, default=new_uuid)
    organization_id = Column(String(36), ForeignKey("organizations.id"), nullable=False, index=True)
    name = Column(String(255), nullable=False)
    description = Column(Text)
    status = Column(Enum(CampaignStatus, name="campaignstatus"), nullable=False,
                    default=CampaignStatus.CREATED)
    status_message = Column(Text)
    fileName = Column(String(255))
    totalRecords = Column(Integer, nullable=False, default=0)
    url = Column(Text)
    created_at = created_at_column()
    updated_at = updated_at_column()
    completed_at = Column(DateTime(timezone=True))

    organization = relationship("Organization", back_populates="campaigns")
    leads = relationship("Lead", back_populates="campaign")
    jobs = relationship("Job", back_populates="campaign")

    def to_dict(self) -> dict:
        return {"id": self.id, "organization_id": self.organization_id, "name": self.name,
                "description": self.description, "status": self.status.value,
                "status_message": self.status_message, "fileName": self.fileName,
                "totalRecords": self.totalRecords, "url": self.url,
                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
                "completed_at": iso(self.completed_at)}
