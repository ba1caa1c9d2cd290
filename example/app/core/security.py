"""Password hashing (PBKDF2) and HMAC-signed bearer tokens, stdlib only."""
import base64
import hashlib
import hmac
import json
import os
import time
from typing import Optional

from app.core.config import settings

_ITERATIONS = 100_000


def hash_password(password: str) -> bytes:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    return salt + digest


def verify_password(password: str, stored: bytes) -> bool:
    stored = bytes(stored)
    salt, digest = stored[:16], stored[16:]
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    return hmac.compare_digest(candidate, digest)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str) -> str:
    return _b64(hmac.new(settings.SECRET_KEY.encode(), payload.encode(), hashlib.sha256).digest())


def create_access_token(subject: str, expires_minutes: Optional[int] = None) -> str:
    minutes = expires_minutes or settings.ACCESS_TOKEN_EXPIRE_MINUTES
    payload = _b64(json.dumps({"sub": subject, "exp": int(time.time()) + minutes * 60}).encode())
    return f"{payload}.{_sign(payload)}"


def decode_access_token(token: str) -> Optional[str]:
    """Return the subject of a valid, unexpired token, else None."""
    try:
        payload, signature = token.split(".", 1)
        if not hmac.compare_digest(signature, _sign(payload)):
            return None
        data = json.loads(_unb64(payload))
        if int(data["exp"]) < time.time():
            return None
        return str(data["sub"])
    except (ValueError, KeyError, TypeError):
        return None
