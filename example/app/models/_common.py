import uuid

from sqlalchemy import Column, DateTime
from sqlalchemy.sql import func


def new_uuid() -> str:
    return str(uuid.uuid4())


def created_at_column():
    return Column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def updated_at_column():
    return Column(DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False)


def iso(value):
    return value.isoformat() if value is not None else None
