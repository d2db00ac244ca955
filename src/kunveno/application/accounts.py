"""Accounts and sign-in: registering people, issuing and checking bearer tokens.

A token is 32 random bytes shown once; the log keeps only an id derived from its SHA-256, so
checking a token is one primary-key read of the log and revocation is seen at once.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4, uuid5

from kunveno.application.errors import Unauthenticated
from kunveno.application.log import CommandBus, Decision, EventLog, Outcome
from kunveno.application.ports import Clock, PasswordHasher, Shredder
from kunveno.domain.actor import Actor
from kunveno.domain.errors import InvalidValue, NameTaken, NotFound
from kunveno.domain.imported import ImportedPost
from kunveno.domain.names import NameClaim, normalise_username
from kunveno.domain.person import AccessToken, Person

_TOKEN_NAMESPACE = UUID("9b1f3a52-8e0c-4d6f-b1a7-2c5e4f60d913")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def token_id(token: str) -> UUID:
    return uuid5(_TOKEN_NAMESPACE, hashlib.sha256(token.encode()).hexdigest())


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidValue(f"a password has {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return password


@dataclass(frozen=True)
class ImportedPostData:
    original_url: str
    content: str
    published: datetime | None
    context: str | None


class AccountService:
    def __init__(
        self,
        log: EventLog,
        commands: CommandBus,
        clock: Clock,
        hasher: PasswordHasher,
        token_ttl: timedelta,
        shredder: Shredder | None = None,
    ) -> None:
        self._log = log
        self._commands = commands
        self._clock = clock
        self._hasher = hasher
        self._token_ttl = token_ttl
        self._shredder = shredder

    def register(
        self, username: str, password: str, display_name: str | None, email: str | None
    ) -> Outcome[UUID]:
        name = normalise_username(username)
        password_hash = self._hasher.hash(check_password(password))
        person_id = uuid4()

        def decide() -> Decision[UUID]:
            if self._log.exists(NameClaim.id_for("handle", name)):
                raise NameTaken(f"the username {name!r} is taken")
            now = self._clock.now()
            claim = NameClaim.claim("username", name, person_id, Actor.person(person_id), now)
            # People and communities share one WebFinger namespace (acct:NAME@HOST).
            handle = NameClaim.claim("handle", name, person_id, Actor.person(person_id), now)
            person = Person.register(
                person_id=person_id,
                username=name,
                display_name=display_name or name,
                email=email,
                password_hash=password_hash,
                at=now,
            )
            return [claim, handle, person], person_id

        return self._commands.run(decide)

    def person_id_for(self, username: str) -> UUID:
        try:
            name = normalise_username(username)
        except InvalidValue:
            raise NotFound("no such person") from None
        return self._log.load(NameClaim, NameClaim.id_for("username", name), "person").owner_id

    def sign_in(self, username: str, password: str) -> Outcome[str]:
        try:
            person = self._log.load(Person, self.person_id_for(username), "person")
        except NotFound:
            person = None
        if not self._password_is(person, password) or person is None:
            raise Unauthenticated("wrong username or password")
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        issued = AccessToken.issue(
            token_id=token_id(token),
            person_id=person.id,
            at=now,
            expires_at=now + self._token_ttl,
        )
        return self._commands.run(lambda: ([issued], token))

    def verify_password(self, person_id: UUID, password: str) -> None:
        """Check a person's password again (before erasing their account, say) as signing in
        checks it, but open no session: nothing is logged."""
        try:
            person = self._log.load(Person, person_id, "person")
        except NotFound:
            person = None
        if not self._password_is(person, password):
            raise Unauthenticated("wrong password")

    def _password_is(self, person: Person | None, password: str) -> bool:
        # Verify even without a person, so timing does not tell which of them exist.
        stored = person.password_hash if person else self._dummy_hash()
        return self._hasher.verify(stored, password) and person is not None

    @functools.cache  # noqa: B019 - one per service, which lives as long as the node
    def _dummy_hash(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))

    def authenticate(self, token: str) -> UUID:
        try:
            access = self._log.load(AccessToken, token_id(token), "token")
        except NotFound:
            raise Unauthenticated("unknown token") from None
        if access.revoked or access.expires_at <= self._clock.now():
            raise Unauthenticated("this token has expired or was revoked: sign in again")
        # An erased person's tokens stop working at once, whichever token it is.
        if self._log.load(Person, access.person_id, "person").erased:
            raise Unauthenticated("this account was erased")
        return access.person_id

    def sign_out(self, token: str) -> Outcome[None]:
        person_id = self.authenticate(token)

        def decide() -> Decision[None]:
            access = self._log.load(AccessToken, token_id(token), "token")
            access.revoke(actor=Actor.person(person_id), at=self._clock.now())
            return [access], None

        return self._commands.run(decide)

    # -- moving between servers -------------------------------------------------------------

    def set_aliases(self, person_id: UUID, urls: list[str]) -> Outcome[None]:
        return self._change_person(
            person_id, lambda p, a, now: p.set_aliases(urls, actor=a, at=now)
        )

    def move(self, person_id: UUID, target: str) -> Outcome[None]:
        """Record the move; the caller has checked that ``target`` names this account as one
        of its aliases (it can fetch it), as every receiving server checks again."""
        return self._change_person(person_id, lambda p, a, now: p.move_to(target, actor=a, at=now))

    def _change_person(
        self, person_id: UUID, change: Callable[[Person, Actor, datetime], None]
    ) -> Outcome[None]:
        def decide() -> Decision[None]:
            person = self._log.load(Person, person_id, "person")
            change(person, Actor.person(person_id), self._clock.now())
            return [person], None

        return self._commands.run(decide)

    def erase(self, person_id: UUID, by: Actor) -> Outcome[bool]:
        """Forget the person: their data key is destroyed first (so nothing of theirs can be
        read even if recording the erasure fails and is retried), then ``Erased`` recorded.
        Their username stays reserved. ``False`` when they were erased already."""
        if self._shredder is None:
            raise RuntimeError("this node has no key store: it cannot erase")
        self._shredder.erase(person_id)

        def decide() -> Decision[bool]:
            person = self._log.load(Person, person_id, "person")
            if person.erased:
                return [], False
            person.erase(actor=by, at=self._clock.now())
            return [person], True

        return self._commands.run(decide)

    def import_posts(self, person_id: UUID, posts: list[ImportedPostData]) -> Outcome[int]:
        """Bring posts along from another server; one already brought is left as it is."""

        def decide() -> Decision[int]:
            now = self._clock.now()
            fresh = [
                ImportedPost.bring(
                    person_id=person_id,
                    original_url=post.original_url,
                    content=post.content,
                    published=post.published,
                    context=post.context,
                    at=now,
                )
                for post in posts
                if not self._log.exists(ImportedPost.id_for(person_id, post.original_url))
            ]
            return list(fresh), len(fresh)

        return self._commands.run(decide)

    def load(self, person_id: UUID) -> Person:
        return self._log.load(Person, person_id, "person")
