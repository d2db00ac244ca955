"""A local person (account) and the access tokens they sign in with.

The password hash lives in its own event (``Person.PasswordSet``) marked secret, so exports
and federation leave it out by topic, never by picking fields.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from kunveno.domain.actor import Actor, check_actor_url
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate
from kunveno.domain.errors import Conflict, InvalidValue, NotFound
from kunveno.domain.pii import ERASED, PII, reveal

MAX_DISPLAY_NAME = 100
MAX_EMAIL = 254
# A plausibility check only (one @, a dotted domain, no spaces); the confirmation mail decides.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")

SECRET_TOPICS = frozenset({"kunveno.person.password_set"})


MAX_ALIASES = 10


def check_display_name(display_name: str) -> str:
    cleaned = display_name.strip()
    if len(cleaned) > MAX_DISPLAY_NAME:
        raise InvalidValue(f"a display name has at most {MAX_DISPLAY_NAME} characters")
    return cleaned


def check_email(email: str | None) -> str | None:
    if email is None:
        return None
    cleaned = email.strip()
    if len(cleaned) > MAX_EMAIL or not EMAIL_PATTERN.fullmatch(cleaned):
        raise InvalidValue("not an email address")
    return cleaned


class Person(KunvenoAggregate):
    TOPIC = "kunveno.person"

    username: str
    display_name: str
    email: str | None
    password_hash: str
    also_known_as: list[str]
    moved_to: str | None
    erased: bool

    # Personal fields are PII of the person (encrypted with their key when stored); events
    # stored before that hold plain values, and ``reveal`` reads both.
    class Registered(CreationEvent):
        TOPIC = "kunveno.person.registered"
        username: str
        display_name: PII
        email: PII

        def apply(self, aggregate: Any) -> None:
            aggregate.username = self.username
            aggregate.display_name = reveal(self.display_name) or ERASED
            aggregate.email = reveal(self.email)
            aggregate.password_hash = ""
            aggregate.also_known_as = []
            aggregate.moved_to = None
            aggregate.erased = False

    class PasswordSet(DomainEvent):
        TOPIC = "kunveno.person.password_set"
        password_hash: PII

        def apply(self, aggregate: Any) -> None:
            aggregate.password_hash = reveal(self.password_hash) or ""

    class ProfileChanged(DomainEvent):
        TOPIC = "kunveno.person.profile_changed"
        display_name: PII

        def apply(self, aggregate: Any) -> None:
            aggregate.display_name = reveal(self.display_name) or ERASED

    class Erased(DomainEvent):
        """The person asked to be forgotten: their key is destroyed with this event, so every
        personal field of theirs reads as erased from now on. No personal data in it."""

        TOPIC = "kunveno.person.erased"

        def apply(self, aggregate: Any) -> None:
            aggregate.display_name = ERASED
            aggregate.email = None
            aggregate.password_hash = ""
            aggregate.erased = True

    class AliasesSet(DomainEvent):
        """The other accounts that are this person too (``alsoKnownAs``), which a Move to
        this account from one of them needs."""

        TOPIC = "kunveno.person.aliases_set"
        also_known_as: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.also_known_as = list(self.also_known_as)

    class Moved(DomainEvent):
        TOPIC = "kunveno.person.moved"
        target: str

        def apply(self, aggregate: Any) -> None:
            aggregate.moved_to = self.target

    @classmethod
    def register(
        cls,
        *,
        person_id: UUID,
        username: str,
        display_name: str,
        email: str | None,
        password_hash: str,
        at: datetime,
    ) -> Person:
        actor = Actor.person(person_id)
        person = cls._start(
            cls.Registered,
            id=person_id,
            actor=actor,
            at=at,
            username=username,
            display_name=PII(person_id, check_display_name(display_name) or username),
            email=PII(person_id, check_email(email)),
        )
        person.set_password(password_hash, actor=actor, at=at)
        return person

    def set_password(self, password_hash: str, *, actor: Actor, at: datetime) -> None:
        self._require_present()
        secret = PII(self.id, password_hash)
        self._record(self.PasswordSet, actor=actor, at=at, password_hash=secret)

    def change_profile(self, display_name: str, *, actor: Actor, at: datetime) -> None:
        self._require_present()
        name = PII(self.id, check_display_name(display_name))
        self._record(self.ProfileChanged, actor=actor, at=at, display_name=name)

    def erase(self, *, actor: Actor, at: datetime) -> None:
        """Record the erasure (once); the caller destroys the person's key with it."""
        if not self.erased:
            self._record(self.Erased, actor=actor, at=at)

    def _require_present(self) -> None:
        if self.erased:
            raise NotFound("no such person")

    def set_aliases(self, urls: list[str], *, actor: Actor, at: datetime) -> None:
        aliases = list(dict.fromkeys(check_actor_url(url) for url in urls))
        if len(aliases) > MAX_ALIASES:
            raise InvalidValue(f"at most {MAX_ALIASES} aliases")
        if aliases != self.also_known_as:
            self._record(self.AliasesSet, actor=actor, at=at, also_known_as=aliases)

    def move_to(self, target: str, *, actor: Actor, at: datetime) -> None:
        """Announce that this account moved to ``target`` (which must name it as an alias:
        checked by the caller, who can fetch it). An account moves once."""
        if self.moved_to is not None:
            raise Conflict(f"this account has moved to {self.moved_to} already")
        self._record(self.Moved, actor=actor, at=at, target=check_actor_url(target))


class AccessToken(KunvenoAggregate):
    """A bearer token's owner and expiry, under an id derived from the token's hash.

    The token itself is never stored; whoever holds it can find this stream, nobody else can.
    """

    TOPIC = "kunveno.access_token"

    person_id: UUID
    expires_at: datetime
    revoked: bool

    class Issued(CreationEvent):
        TOPIC = "kunveno.access_token.issued"
        person_id: UUID
        expires_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.person_id = self.person_id
            aggregate.expires_at = self.expires_at
            aggregate.revoked = False

    class Revoked(DomainEvent):
        TOPIC = "kunveno.access_token.revoked"

        def apply(self, aggregate: Any) -> None:
            aggregate.revoked = True

    @classmethod
    def issue(
        cls, *, token_id: UUID, person_id: UUID, at: datetime, expires_at: datetime
    ) -> AccessToken:
        return cls._start(
            cls.Issued,
            id=token_id,
            actor=Actor.person(person_id),
            at=at,
            person_id=person_id,
            expires_at=expires_at,
        )

    def revoke(self, *, actor: Actor, at: datetime) -> None:
        if not self.revoked:
            self._record(self.Revoked, actor=actor, at=at)
