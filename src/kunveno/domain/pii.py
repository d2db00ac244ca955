"""Personal data inside stored events, tied to the person it belongs to.

A ``PII`` value is stored encrypted with a key of its subject (crypto-shredding, SECURITY
"Erasure"): once the subject's key is destroyed, the value reads back as ``None`` while the
event itself, its actor, time and every count derived from it stay intact. The domain only
wraps and unwraps; the encryption happens where events are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.domain.actor import Actor, ActorKind

ERASED = "[erased]"


@dataclass(frozen=True)
class PII:
    subject: UUID
    value: Any  # None once the subject's key is destroyed (or never given)

    @property
    def erased(self) -> bool:
        return self.value is None

    def text(self, default: str = ERASED) -> str:
        """The value as text, or ``default`` once erased."""
        return default if self.value is None else str(self.value)


def reveal(value: Any) -> Any:
    """A stored field's plain value: ``PII`` unwrapped (None once erased), others as they are.

    Old events stored before personal fields were wrapped hold plain values; both read the
    same way through this.
    """
    return value.value if isinstance(value, PII) else value


def subject_of(actor: Actor) -> UUID:
    """Whose personal data an actor's words are: a local person's own id, or for a remote
    actor an id derived from its URL (so what they said here can be erased with them)."""
    if actor.kind is ActorKind.PERSON and actor.person_id is not None:
        return actor.person_id
    return uuid5(NAMESPACE_URL, f"subject {actor}")
