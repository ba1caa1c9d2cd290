"""Shared FastAPI dependencies: DB session and the authenticated user."""
from typing import Optional

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.core.database import get_db
from app.core.security import decode_access_token
from app.models import User

_bearer = HTTPBearer(auto_error=False)


def get_current_user(credentials: Optional[HTTPAuthorizationCredentials] = Depends(_bearer),
                     db: Session = Depends(get_db)) -> User:
    subject = decode_access_token(credentials.credentials) if credentials else None
    user = db.get(User, subject) if subject else None
    if user is None or not user.is_active:
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED,
                            detail="Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return user


def ok(data) -> dict:
    """Response envelope used by every endpoint: {"status": "success", "data": ...}."""
    return {"status": "success", "data": data}
