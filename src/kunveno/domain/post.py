"""A post: a message in a community, possibly a reply to another post; edited, deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate
from kunveno.domain.errors import InvalidValue, PermissionDenied, PostDeleted
from kunveno.domain.pii import PII, reveal, subject_of

MAX_CONTENT = 10_000


def check_content(content: str) -> str:
    if not content.strip() or len(content) > MAX_CONTENT:
        raise InvalidValue(f"a post has 1-{MAX_CONTENT} characters")
    return content


class Post(KunvenoAggregate):
    TOPIC = "kunveno.post"

    community_id: UUID
    author: str
    content: str
    in_reply_to: UUID | None
    deleted: bool
    object_url: str | None = None  # a remote post's own id (URL); None for ours

    class Published(CreationEvent):
        TOPIC = "kunveno.post.published"
        community_id: UUID
        content: PII  # the author's: erased with them
        in_reply_to: UUID | None

        def apply(self, aggregate: Any) -> None:
            aggregate.community_id = self.community_id
            aggregate.author = self.actor
            aggregate.content = reveal(self.content) or ""
            aggregate.in_reply_to = self.in_reply_to
            aggregate.deleted = False

    class Received(CreationEvent):
        """A post by a remote actor, addressed to the community from another server."""

        TOPIC = "kunveno.post.received"
        community_id: UUID
        content: PII
        in_reply_to: UUID | None
        object_url: str
        activity_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.community_id = self.community_id
            aggregate.author = self.actor
            aggregate.content = reveal(self.content) or ""
            aggregate.in_reply_to = self.in_reply_to
            aggregate.deleted = False
            aggregate.object_url = self.object_url

    class Edited(DomainEvent):
        TOPIC = "kunveno.post.edited"
        content: PII

        def apply(self, aggregate: Any) -> None:
            aggregate.content = reveal(self.content) or ""

    class Deleted(DomainEvent):
        TOPIC = "kunveno.post.deleted"

        def apply(self, aggregate: Any) -> None:
            aggregate.content = ""
            aggregate.deleted = True

    @classmethod
    def publish(
        cls,
        *,
        post_id: UUID,
        community_id: UUID,
        content: str,
        in_reply_to: Post | None,
        actor: Actor,
        at: datetime,
    ) -> Post:
        if in_reply_to is not None:
            if in_reply_to.community_id != community_id:
                raise InvalidValue("a reply belongs to the same community as its post")
            if in_reply_to.deleted:
                raise PostDeleted("cannot reply to a deleted post")
        return cls._start(
            cls.Published,
            id=post_id,
            actor=actor,
            at=at,
            community_id=community_id,
            content=PII(subject_of(actor), check_content(content)),
            in_reply_to=None if in_reply_to is None else in_reply_to.id,
        )

    @classmethod
    def receive(
        cls,
        *,
        post_id: UUID,
        community_id: UUID,
        content: str,
        in_reply_to: Post | None,
        author_url: str,
        object_url: str,
        activity_id: str,
        at: datetime,
    ) -> Post:
        if in_reply_to is not None and in_reply_to.community_id != community_id:
            raise InvalidValue("a reply belongs to the same community as its post")
        return cls._start(
            cls.Received,
            id=post_id,
            actor=Actor.remote(author_url),
            at=at,
            community_id=community_id,
            content=PII(subject_of(Actor.remote(author_url)), check_content(content)),
            in_reply_to=None if in_reply_to is None else in_reply_to.id,
            object_url=object_url,
            activity_id=activity_id,
        )

    def edit(self, content: str, *, actor: Actor, at: datetime) -> None:
        self._require_live()
        if str(actor) != self.author:
            raise PermissionDenied("only the author edits a post")
        edited = PII(subject_of(actor), check_content(content))
        self._record(self.Edited, actor=actor, at=at, content=edited)

    def delete(self, *, actor: Actor, moderator: bool, at: datetime) -> None:
        """The author or a moderator of the community deletes; deleting twice is a no-op."""
        if self.deleted:
            return
        if str(actor) != self.author and not moderator:
            raise PermissionDenied("only the author or a moderator deletes a post")
        self._record(self.Deleted, actor=actor, at=at)

    def _require_live(self) -> None:
        if self.deleted:
            raise PostDeleted("this post was deleted")
