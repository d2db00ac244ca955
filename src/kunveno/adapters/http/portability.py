"""A person's own data: the complete export as a download, and what the node holds, counted."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

from kunveno.adapters.portability.export import export_file
from kunveno.domain.errors import NotFound
from kunveno.projections.personal import PersonalData, topic_kind

from .deps import Fresh, Me, Node

router = APIRouter(prefix="/api/v1", tags=["portability"])


class DataSummary(BaseModel):
    person_id: UUID
    events: int  # stored events they caused or that are about them
    by_kind: dict[str, int]  # those events by kind: account, memberships, registrations...
    by_topic: dict[str, int]
    holds: dict[str, int]  # what the node holds now: memberships, registrations, posts...


@router.get(
    "/me/export",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def export(node: Node, me: Me) -> FileResponse:
    """Everything the person did and the node holds about them, as a zip (see its
    README.txt). Built once per state of the log; ``Range`` requests resume a download."""
    person = node.queries.person(str(me))
    if person is None:
        raise NotFound("no such person")
    path = export_file(node, me)
    return FileResponse(
        path, media_type="application/zip", filename=f"kunveno-{person['username']}.zip"
    )


@router.get("/me/data-summary", dependencies=[Fresh])
def data_summary(node: Node, me: Me) -> DataSummary:
    person_id = str(me)
    data = PersonalData(node.read_store)
    topics = data.topic_counts(person_id)
    kinds: dict[str, int] = {}
    for topic, count in topics.items():
        kinds[topic_kind(topic)] = kinds.get(topic_kind(topic), 0) + count
    return DataSummary(
        person_id=me,
        events=sum(topics.values()),
        by_kind=dict(sorted(kinds.items())),
        by_topic=topics,
        holds=data.holdings(person_id),
    )
