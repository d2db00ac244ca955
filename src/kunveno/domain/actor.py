"""Who caused a stored event: a local person, an agent, a remote ActivityPub actor, the system, an
anonymous visitor.

Stored in every event as one string (``person:UUID``, ``agent:UUID``, ``remote:URL``,
``system``, ``anonymous``) so the audit trail can filter on it without decoding anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from kunveno.domain.errors import InvalidValue


class ActorKind(StrEnum):
    PERSON = "person"
    AGENT = "agent"
    REMOTE = "remote"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"  # an unauthenticated visitor, e.g. an anonymous registrant


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    ref: str = ""

    @classmethod
    def person(cls, person_id: UUID) -> Actor:
        return cls(ActorKind.PERSON, str(person_id))

    @classmethod
    def agent(cls, agent_id: UUID) -> Actor:
        return cls(ActorKind.AGENT, str(agent_id))

    @classmethod
    def remote(cls, actor_url: str) -> Actor:
        return cls(ActorKind.REMOTE, actor_url)

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorKind.SYSTEM)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(ActorKind.ANONYMOUS)

    @property
    def has_ref(self) -> bool:
        return self.kind not in (ActorKind.SYSTEM, ActorKind.ANONYMOUS)

    @classmethod
    def parse(cls, text: str) -> Actor:
        kind, _, ref = text.partition(":")
        actor = cls(ActorKind(kind), ref)
        if actor.has_ref != bool(ref):
            raise ValueError(f"not an actor reference: {text!r}")
        if actor.kind in (ActorKind.PERSON, ActorKind.AGENT):
            # Canonical, so a parsed actor equals Actor.person(id); and never a ref that
            # person_id could not read back.
            try:
                return cls(actor.kind, str(UUID(ref)))
            except ValueError:
                raise ValueError(f"not an actor reference: {text!r}") from None
        return actor

    @property
    def person_id(self) -> UUID | None:
        return UUID(self.ref) if self.kind is ActorKind.PERSON else None

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.ref}" if self.has_ref else self.kind.value


_ACTOR_URL = re.compile(r"https?://[^\s/]+/\S*")


def check_actor_url(url: str) -> str:
    """A remote actor's id as we store it: an http(s) URL, no spaces, of bounded length."""
    url = url.strip()
    if len(url) > 2000 or not _ACTOR_URL.fullmatch(url):
        raise InvalidValue(f"not an actor URL: {url[:100]!r}")
    return url
