"""Unique names (usernames, community slugs) as tiny index aggregates.

The claim's id is derived from the name, so two claims of one name collide on the event
store's primary key in the same atomic save as the thing that takes the name: uniqueness is
enforced by the log itself, not by a read model that may lag.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, KunvenoAggregate
from kunveno.domain.errors import InvalidValue

_NAMESPACE = UUID("3f6c1d0e-5b7a-4c1e-9a53-6e2d8f1b7c40")
HANDLE_PATTERN = re.compile(r"^[a-z0-9_]{1,64}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")


def normalise_username(username: str) -> str:
    """Handles are ASCII ``[a-z0-9_]`` and unique regardless of case (SECURITY I-6)."""
    lowered = username.strip().lower()
    if not HANDLE_PATTERN.fullmatch(lowered):
        raise InvalidValue("a username is 1-64 characters of a-z, 0-9 and _")
    return lowered


# Slugs the pages use as paths of their own (/communities/new): never a community's.
RESERVED_SLUGS = frozenset({"new"})


def normalise_slug(slug: str) -> str:
    lowered = slug.strip().lower()
    if not SLUG_PATTERN.fullmatch(lowered):
        raise InvalidValue(
            "a slug is 1-64 characters of a-z, 0-9, - and _, starting and ending alphanumeric"
        )
    return lowered


class NameClaim(KunvenoAggregate):
    """That a name of a kind (``username``, ``community``) belongs to one owner, forever."""

    TOPIC = "kunveno.name_claim"

    owner_id: UUID

    class Claimed(CreationEvent):
        TOPIC = "kunveno.name_claim.claimed"
        kind: str
        name: str
        owner_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.kind = self.kind
            aggregate.name = self.name
            aggregate.owner_id = self.owner_id

    @staticmethod
    def id_for(kind: str, name: str) -> UUID:
        return uuid5(_NAMESPACE, f"{kind}:{name}")

    @classmethod
    def claim(cls, kind: str, name: str, owner_id: UUID, actor: Actor, at: datetime) -> NameClaim:
        return cls._start(
            cls.Claimed,
            id=cls.id_for(kind, name),
            actor=actor,
            at=at,
            kind=kind,
            name=name,
            owner_id=owner_id,
        )
