from sqlalchemy import Boolean, Column, LargeBinary, String

from app.core.database import Base
from app.models._common import created_at_column, iso, new_uuid, updated_at_column


class User(Base):
    __tablename__ = "users"

    id = Column(String(36), primary_key=True, default=new_uuid)
    email = Column(String(255), unique=True, index=True, nullable=False)
    hashed_password = Column(LargeBinary, nullable=False)
    full_name = Column(String(255))
    is_active = Column(Boolean, nullable=False, default=True, server_default="true")
    created_at = created_at_column()
    updated_at = updated_at_column()

    def to_dict(self) -> dict:
        return {"id": self.id, "email": self.email, "full_name": self.full_name,
                "is_active": self.is_active, "created_at": iso(self.created_at)}
