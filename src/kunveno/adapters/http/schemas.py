"""Request and response bodies of the client API; unknown request fields are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from kunveno.builtin_agents.catalogue import BUILTINS


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Username = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(max_length=20_000)]


class NewAccount(Body):
    username: Username
    password: Annotated[str, StringConstraints(min_length=8, max_length=1024)]
    display_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None


class Account(BaseModel):
    id: UUID
    username: str


class Credentials(Body):
    username: Username
    password: Annotated[str, StringConstraints(max_length=1024)]


class Session(BaseModel):
    token: str


class Me(BaseModel):
    id: UUID
    username: str
    display_name: str
    actor_url: str


class NewCommunity(Body):
    slug: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    summary: Annotated[str, StringConstraints(max_length=2000)] = ""
    visibility: Literal["public", "private"] = "public"
    membership: Literal["open", "approval", "invite"] = "open"


class Community(BaseModel):
    id: UUID
    slug: str
    name: str
    summary: str
    visibility: str
    membership: str
    member_count: int
    url: str
    founded_at: datetime


class JoinAnswer(BaseModel):
    status: Literal["member", "pending"]


class Member(BaseModel):
    person_id: UUID
    username: str | None
    display_name: str | None
    role: str


class RoleChange(Body):
    role: Literal["owner", "admin", "moderator", "member"]


class Invitation(Body):
    username: Username


class NewGathering(Body):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Text = ""
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    location: Annotated[str, StringConstraints(max_length=500)] | None = None
    online_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    capacity: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    anonymous_registration: bool = False
    join_mode: Literal["free", "approval"] = "free"


class GatheringChange(NewGathering):
    """A full replacement of the details; capacity may change too."""


class Gathering(BaseModel):
    id: UUID
    url: str
    # Likes and boosts from the fediverse.
    like_count: int = 0
    announce_count: int = 0
    community: str
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    location: str | None
    online_url: str | None
    capacity: int | None
    join_mode: str
    anonymous_registration: bool
    status: str
    registration_count: int
    remaining_capacity: int | None
    waitlist_count: int
    pending_count: int
    by_agent: ByAgent | None = None


class NewNotice(Body):
    text: Annotated[str, StringConstraints(max_length=2000)]
    # Chosen by the sender, so a retry sends nothing twice.
    id: UUID | None = None


class Notice(BaseModel):
    id: UUID
    gathering_id: UUID
    gathering_title: str
    text: str
    sent_at: datetime
    actor: str
    by_agent: ByAgent | None = None


class NewRegistration(Body):
    email: Annotated[str, StringConstraints(max_length=254)] | None = None


class RegistrationAnswer(BaseModel):
    id: UUID
    status: str
    cancel_token: str | None = None


class Participant(BaseModel):
    id: UUID
    username: str | None
    display_name: str | None
    actor_url: str | None
    status: str


class Participants(BaseModel):
    participants: list[Participant]
    anonymous_count: int | None  # None for an agent: it never learns of anonymous ones


class MyRegistration(BaseModel):
    id: UUID
    gathering_id: UUID
    title: str
    starts_at: datetime
    status: str


class NewPost(Body):
    content: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    in_reply_to: UUID | None = None


class PostEdit(Body):
    content: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class ByAgent(BaseModel):
    """What an agent did is labelled so: "by agent NAME"."""

    id: UUID
    name: str
    label: str


class Post(BaseModel):
    id: UUID
    url: str
    like_count: int = 0
    announce_count: int = 0
    community: str
    author: str
    by_agent: ByAgent | None = None
    content: str
    in_reply_to: UUID | None
    published_at: datetime
    edited_at: datetime | None


class RemoteFollower(BaseModel):
    actor_url: str
    status: Literal["pending", "accepted", "rejected", "ended"]
    since: AwareDatetime


class FollowerDecision(Body):
    actor_url: str = Field(max_length=2000)


class RemoteAddress(Body):
    address: str = Field(min_length=3, max_length=2000)


class RemoteGatheringRef(Body):
    url: str = Field(min_length=8, max_length=2000)


class OutgoingRequest(BaseModel):
    target: str
    status: Literal["pending", "accepted", "rejected", "withdrawn"]
    since: AwareDatetime | None = None


class RemoteGathering(BaseModel):
    url: str
    organiser: str
    name: str
    content: str
    starts_at: datetime
    ends_at: datetime | None
    timezone: str | None
    place_name: str | None
    address: str | None
    online_url: str | None
    join_mode: str | None
    capacity: int | None
    remaining_capacity: int | None
    participant_count: int | None
    status: str


class Aliases(Body):
    """Other accounts that are you too, by handle (name@host) or URL."""

    aliases: list[Annotated[str, StringConstraints(min_length=3, max_length=2000)]] = Field(
        max_length=10
    )


class AliasesAnswer(BaseModel):
    also_known_as: list[str]


class NewBlock(Body):
    kind: Literal["domain", "actor"]
    value: str = Field(min_length=1, max_length=2000)
    reason: str = Field(default="", max_length=500)


class Block(BaseModel):
    kind: str
    value: str
    reason: str
    blocked_at: datetime


class ImportCounts(BaseModel):
    follows: int  # communities and accounts asked to follow
    registrations: int  # future gatherings asked to join
    posts: int  # posts found in the archive: counted, not recreated here


class ImportAnswer(BaseModel):
    imported: ImportCounts
    aliases: list[str]
    skipped: list[str]  # on this node itself, past, cancelled, or unreachable


class ImportedPost(BaseModel):
    original_url: str
    content: str
    published_at: datetime | None
    context: str | None
    imported_at: datetime


# -- agents ------------------------------------------------------------------------------


class NewAgent(Body):
    """An agent of one's own (``name`` and ``scopes``), or a built-in (``builtin``: its name,
    description and scopes are then the built-in's unless given; scopes only narrower)."""

    name: Annotated[str, StringConstraints(max_length=60)] | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    scopes: (
        Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=20)]
        | None
    ) = None
    builtin: Annotated[str, StringConstraints(max_length=40)] | None = None

    @model_validator(mode="after")
    def _own_or_builtin(self) -> NewAgent:
        known = ", ".join(sorted(BUILTINS))
        if self.builtin is None:
            if self.name is None or self.scopes is None:
                raise ValueError(f"give name and scopes, or builtin (one of: {known})")
            return self
        builtin = BUILTINS.get(self.builtin)
        if builtin is None:
            raise ValueError(f"no built-in agent {self.builtin!r}; there are: {known}")
        wider = sorted(set(self.scopes or ()) - set(builtin.scopes))
        if wider:
            raise ValueError(f"the {builtin.key} agent takes no scope beyond its own: {wider}")
        return self


class AgentChange(Body):
    scopes: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=20)]


class Agent(BaseModel):
    id: UUID
    community: str
    name: str
    description: str
    scopes: list[str]
    status: Literal["active", "suspended", "removed"]
    builtin: str | None
    owner_id: UUID
    actor: str
    url: str
    created_at: datetime
    changed_at: datetime


class AgentCreated(BaseModel):
    agent: Agent
    # Shown once: only its hash is kept. None for a built-in: the node keeps its token.
    token: str | None


class BuiltinAgent(BaseModel):
    """A built-in agent a community's admins can enable (``{"builtin": key}``)."""

    key: str
    name: str
    description: str
    scopes: list[str]
    why: str  # what each scope is for
    running: bool  # whether this node runs built-ins (KUNVENO_BUILTIN_AGENTS)


# -- watching: an agent's webhook -----------------------------------------------------------


class WebhookChange(Body):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    # Deliver the events after this log position (default: from now; a changed URL keeps
    # the position it had).
    after: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None


class Webhook(BaseModel):
    agent_id: UUID
    url: str
    position: int  # delivered (or passed over) up to this log position
    attempts: int  # failed attempts at the batch now waiting
    next_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class WebhookSet(Webhook):
    secret: str  # shown once: the receiver checks X-Kunveno-Signature with it
