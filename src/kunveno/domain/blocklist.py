"""The node's blocks: whole instances (domains) and single remote actors.

One stream for the node, so every block and unblock is in the log with who did it, and the
read model that the inbox and the delivery worker consult can be derived again.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.domain.actor import Actor, check_actor_url
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate
from kunveno.domain.errors import InvalidValue

BLOCKLIST_ID: UUID = uuid5(NAMESPACE_URL, "kunveno blocklist")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?$")


def normalise_domain(domain: str) -> str:
    lowered = domain.strip().lower().rstrip(".")
    if not _DOMAIN.fullmatch(lowered):
        raise InvalidValue(f"not a domain name: {domain!r}")
    return lowered


class Blocklist(KunvenoAggregate):
    TOPIC = "kunveno.blocklist"

    domains: list[str]
    actors: list[str]

    class Started(CreationEvent):
        TOPIC = "kunveno.blocklist.started"

        def apply(self, aggregate: Any) -> None:
            aggregate.domains = []
            aggregate.actors = []

    class Blocked(DomainEvent):
        TOPIC = "kunveno.blocklist.blocked"
        kind: str  # "domain" or "actor"
        value: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._entries(self.kind).append(self.value)

    class Unblocked(DomainEvent):
        TOPIC = "kunveno.blocklist.unblocked"
        kind: str
        value: str

        def apply(self, aggregate: Any) -> None:
            aggregate._entries(self.kind).remove(self.value)

    def _entries(self, kind: str) -> list[str]:
        return self.domains if kind == "domain" else self.actors

    @classmethod
    def start(cls, *, actor: Actor, at: datetime) -> Blocklist:
        return cls._start(cls.Started, id=BLOCKLIST_ID, actor=actor, at=at)

    def block(self, kind: str, value: str, reason: str, *, actor: Actor, at: datetime) -> bool:
        value = self._checked(kind, value)
        if value in self._entries(kind):
            return False
        self._record(self.Blocked, actor=actor, at=at, kind=kind, value=value, reason=reason[:500])
        return True

    def unblock(self, kind: str, value: str, *, actor: Actor, at: datetime) -> bool:
        value = self._checked(kind, value)
        if value not in self._entries(kind):
            return False
        self._record(self.Unblocked, actor=actor, at=at, kind=kind, value=value)
        return True

    @staticmethod
    def _checked(kind: str, value: str) -> str:
        return normalise_entry(kind, value)


def normalise_entry(kind: str, value: str) -> str:
    """A block's value as stored: a lower-cased domain, or an actor URL."""
    if kind == "domain":
        return normalise_domain(value)
    if kind == "actor":
        return check_actor_url(value)
    raise InvalidValue("a block is of a domain or of an actor")
