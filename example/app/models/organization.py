from sqlalchemy import Column, String, Text
from sqlalchemy.orm import relationship

from app.core.database import Base
from app.models._common import created_at_column, iso, new_uuid, updated_at_column


class Organization(Base):
    __tablename__ = "organizations"

    id = Column(String(36), primary_key=True, default=new_uuid)
    name = Column(String(255), nullable=False)
    description = Column(Text)
    created_at = created_at_column()
    updated_at = updated_at_column()

    campaigns = relationship("Campaign", back_populates="organization")

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "description": self.description,
                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at)}
