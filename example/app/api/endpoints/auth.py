import logging
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import get_current_user, ok
from app.core.database import get_db
from app.core.security import create_access_token, hash_password, verify_password
from app.models import User

router = APIRouter(prefix="/auth", tags=["auth"])
logger = logging.getLogger(__name__)


class SignupIn(BaseModel):
    email: str
    password: str
    full_name: Optional[str] = None
    confirm_password: Optional[str] = None

    @validator("email")
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise ValueError("invalid email address")
        return value

    @validator("password")
    def _password(cls, value: str) -> str:
        if len(value) < 8:
            raise ValueError("password must be at least 8 characters")
        return value


class LoginIn(BaseModel):
    email: str
    password: str


@router.post("/signup", status_code=status.HTTP_201_CREATED)
def signup(body: SignupIn, db: Session = Depends(get_db)):
    if body.confirm_password is not None and body.confirm_password != body.password:
        raise HTTPException(status_code=400, detail="passwords do not match")
    if db.execute(select(User).where(User.email == body.email)).scalar_one_or_none():
        raise HTTPException(status_code=409, detail="email already registered")
    user = User(email=body.email, hashed_password=hash_password(body.password),
                full_name=body.full_name)
    db.add(user)
    db.commit()
    logger.info("user signed up: %s", user.email)
    return ok(user.to_dict())


@router.post("/login")
def login(body: LoginIn, db: Session = Depends(get_db)):
    user = db.execute(select(User).where(User.email == body.email.strip().lower())).scalar_one_or_none()
    if user is None or not verify_password(body.password, user.hashed_password):
        raise HTTPException(status_code=401, detail="invalid email or password")
    token = create_access_token(user.id)
    logger.info("user logged in: %s", user.email)
    # Top-level token fields (OAuth2 style) and the target app's {"token": {...}} shape.
    return {"access_token": token, "token_type": "bearer",
            "token": {"access_token": token, "token_type": "bearer"}, "user": user.to_dict()}


@router.get("/me")
def me(user: User = Depends(get_current_user)):
    return ok(user.to_dict())
