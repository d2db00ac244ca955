"""A post a person brought along from another server (their export, imported here).

It belongs to the person, not to a community of this node: it keeps its original id, date
and where it was said, is marked as imported, and is the person's personal data like any
post (sealed with their key, erased with them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, KunvenoAggregate
from kunveno.domain.pii import PII, reveal
from kunveno.domain.post import check_content


class ImportedPost(KunvenoAggregate):
    TOPIC = "kunveno.imported_post"

    person_id: UUID
    original_url: str
    content: str
    published: datetime | None
    context: str | None

    class Imported(CreationEvent):
        TOPIC = "kunveno.imported_post.imported"
        person_id: UUID
        original_url: str
        content: PII
        published: datetime | None
        context: str | None  # where it was said (the community), as the export named it

        def apply(self, aggregate: Any) -> None:
            aggregate.person_id = self.person_id
            aggregate.original_url = self.original_url
            aggregate.content = reveal(self.content) or ""
            aggregate.published = self.published
            aggregate.context = self.context

    @staticmethod
    def id_for(person_id: UUID, original_url: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"imported post {person_id} {original_url}")

    @classmethod
    def bring(
        cls,
        *,
        person_id: UUID,
        original_url: str,
        content: str,
        published: datetime | None,
        context: str | None,
        at: datetime,
    ) -> ImportedPost:
        return cls._start(
            cls.Imported,
            id=cls.id_for(person_id, original_url),
            actor=Actor.person(person_id),
            at=at,
            person_id=person_id,
            original_url=original_url,
            content=PII(person_id, check_content(content)),
            published=published,
            context=context,
        )
