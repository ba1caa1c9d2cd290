"""Settings read from the environment (the compose .env file)."""
import os
from dataclasses import dataclass, field


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    PROJECT_NAME: str = "fastapi-k8-proto example"
    API_V1_STR: str = "/api/v1"

    POSTGRES_SERVER: str = field(default_factory=lambda: _env("POSTGRES_SERVER", "postgres"))
    POSTGRES_PORT: int = field(default_factory=lambda: int(_env("POSTGRES_PORT", "5432")))
    POSTGRES_USER: str = field(default_factory=lambda: _env("POSTGRES_USER", "postgres"))
    POSTGRES_PASSWORD: str = field(default_factory=lambda: _env("POSTGRES_PASSWORD", ""))
    POSTGRES_DB: str = field(default_factory=lambda: _env("POSTGRES_DB", "fastapi_k8_proto"))

    REDIS_HOST: str = field(default_factory=lambda: _env("REDIS_HOST", "redis"))
    REDIS_PORT: int = field(default_factory=lambda: int(_env("REDIS_PORT", "6379")))
    REDIS_DB: int = field(default_factory=lambda: int(_env("REDIS_DB", "0")))
    # Empty (the Kubernetes manifests): Redis without AUTH.
    REDIS_PASSWORD: str = field(default_factory=lambda: _env("REDIS_PASSWORD", ""))

    LOG_DIR: str = field(default_factory=lambda: _env("LOG_DIR", "./logs"))
    SECRET_KEY: str = field(default_factory=lambda: _env("SECRET_KEY", "dev-only-secret-key"))
    ACCESS_TOKEN_EXPIRE_MINUTES: int = field(
        default_factory=lambda: int(_env("ACCESS_TOKEN_EXPIRE_MINUTES", "1440")))
    USE_APIFY_CLIENT_MOCK: bool = field(
        default_factory=lambda: _env("USE_APIFY_CLIENT_MOCK", "true").lower() in ("1", "true", "yes"))

    @property
    def database_url(self) -> str:
        # quote, not quote_plus: SQLAlchemy decodes %20 in a URL's password, never "+".
        from urllib.parse import quote
        return (f"postgresql+psycopg2://{quote(self.POSTGRES_USER, safe='')}:"
                f"{quote(self.POSTGRES_PASSWORD, safe='')}@{self.POSTGRES_SERVER}:"
                f"{self.POSTGRES_PORT}/{self.POSTGRES_DB}")

    @property
    def redis_url(self) -> str:
        """Celery broker/backend URL; the password is percent-encoded (it may hold @ : /)."""
        from urllib.parse import quote
        auth = f":{quote(self.REDIS_PASSWORD, safe='')}@" if self.REDIS_PASSWORD else ""
        return f"redis://{auth}{self.REDIS_HOST}:{self.REDIS_PORT}/{self.REDIS_DB}"

    @property
    def log_file(self) -> str:
        return os.path.join(self.LOG_DIR, "combined.log")


settings = Settings()
