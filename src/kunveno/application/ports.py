"""What the application needs from the outside world, as small protocols."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class Shredder(Protocol):
    """Destroys a subject's data key: every personal value of theirs becomes unreadable."""

    def erase(self, subject: UUID) -> None: ...
