"""The node's settings: the one place that reads the environment (``KUNVENO_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KUNVENO_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="postgresql://... or sqlite:///path or memory://; unset: SQLite in data_dir",
    )
    data_dir: Path = Path("./var")
    # Unset: http://HOST:PORT of `kunveno serve` (right for development, never behind a proxy).
    base_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    federation_allow_http: bool = False
    federation_allow_private: bool = False
    token_ttl_days: int = 30
    # Usernames of the node's administrators (comma-separated): they manage blocks.
    admins: str = ""
    # argon2 cost; lowered only by tests, where hashing speed matters more than strength.
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    read_your_writes_timeout: float = 5.0
    # Requests an agent may make a minute (a burst of as many, refilled evenly); then 429.
    agent_requests_per_minute: int = 120
    # Built-in agents (reminder, welcome): run them in this node's background. Off, they can
    # still be enabled but do nothing until a node runs them again.
    builtin_agents: bool = True
    # Where the built-ins reach the node's API; unset: base_url (set it when the node cannot
    # reach its own public address from inside, e.g. http://127.0.0.1:8000 behind a proxy).
    builtin_agents_api_url: str = ""
    # Seconds between the reminder agent's passes over the next day's gatherings.
    reminder_interval_seconds: float = Field(default=600.0, gt=0)

    _base_url_given: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _default_base_url(self) -> Settings:
        self._base_url_given = bool(self.base_url)
        if not self.base_url:
            self.base_url = f"http://{self.host}:{self.port}"
        self.base_url = self.base_url.rstrip("/")
        return self

    @property
    def base_url_given(self) -> bool:
        """Whether a public URL was configured (rather than derived from host and port)."""
        return self._base_url_given

    @property
    def admin_usernames(self) -> frozenset[str]:
        return frozenset(name.strip().lower() for name in self.admins.split(",") if name.strip())

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kunveno.sqlite3').resolve()}"
