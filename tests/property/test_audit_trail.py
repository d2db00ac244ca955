"""The audit trail is the log: for every agent (and every person) of a community, its trail
holds exactly the log positions of the events it caused in that community — nothing missing,
nothing else — and an agent never causes an event outside its own community.

Hypothesis plays random sequences of actions by several agents and people through the
services, as the HTTP adapter drives them (an agent is loaded afresh for each request; a
suspended or removed one is refused; every 403 is recorded as the agent's refused attempt),
then folds the read models and compares each trail with the log read directly.

One node per database for the whole test; each example makes its own people, communities and
agents, and reads only the log it wrote.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as covered
from hypothesis import strategies as st

from conftest import test_settings as settings_for
from kunveno.application.callers import Caller
from kunveno.bootstrap import Container, build
from kunveno.domain.agent import Agent
from kunveno.domain.base import DomainEvent
from kunveno.domain.community import Community, Membership, Visibility
from kunveno.domain.errors import DomainError, PermissionDenied, ScopeMissing
from kunveno.domain.gathering import Gathering, GatheringDetails, JoinMode
from kunveno.domain.post import Post
from kunveno.projections.trail import AuditEntry, Trail

T = TypeVar("T")
POOL = ("posts:write", "gatherings:write", "moderation:write", "posts:read")
STARTS = datetime(2031, 3, 1, 18, 0, tzinfo=UTC)
# What each kind of successful act takes (a deletion of another's post: moderation:write).
SCOPE_OF: dict[type[DomainEvent], str] = {
    Post.Published: "posts:write",
    Post.Edited: "posts:write",
    Post.Deleted: "posts:write",
    Gathering.Scheduled: "gatherings:write",
    Gathering.DetailsChanged: "gatherings:write",
    Gathering.CapacityChanged: "gatherings:write",
    Gathering.Cancelled: "gatherings:write",
    Gathering.NoticeSent: "gatherings:write",
    Gathering.RegistrationApproved: "gatherings:write",
    Gathering.RegistrationDeclined: "gatherings:write",
    Gathering.RegistrationPromoted: "gatherings:write",
    Gathering.RegistrationCancelled: "gatherings:write",
    Community.JoinApproved: "moderation:write",
    Community.JoinRejected: "moderation:write",
}


class NothingToPick(Exception):
    """An action needs something (an agent, a post) the sequence has not made yet."""


def pick(items: Sequence[T], n: int) -> T:
    if not items:
        raise NothingToPick
    return items[n % len(items)]


def details(title: str) -> GatheringDetails:
    return GatheringDetails(
        title=title,
        description="",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(hours=2),
        timezone="Europe/Amsterdam",
        location="Library",
        online_url=None,
        join_mode=JoinMode.APPROVAL,
        anonymous_registration=False,
    )


@dataclass
class World:
    """One example's people, communities (slug, id, founder), agents and things."""

    node: Container
    tag: str
    people: list[UUID] = field(default_factory=list)
    communities: list[tuple[str, UUID, UUID]] = field(default_factory=list)
    agents: list[UUID] = field(default_factory=list)
    posts: list[UUID] = field(default_factory=list)
    gatherings: list[UUID] = field(default_factory=list)
    registrations: list[tuple[UUID, UUID]] = field(default_factory=list)  # gathering, reg.

    def set_up(self) -> None:
        node = self.node
        for i in range(3):
            self.people.append(
                node.accounts.register(f"{self.tag}_{i}", "s3cret-pass", None, None).value
            )
        for i, membership in enumerate((Membership.OPEN, Membership.APPROVAL)):
            slug, founder = f"{self.tag}-c{i}", self.people[i]
            community_id = node.communities.found(
                founder,
                slug=slug,
                name=slug,
                summary="",
                visibility=Visibility.PUBLIC,
                membership=membership,
            ).value
            self.communities.append((slug, community_id, founder))
        node.communities.join(self.people[2], self.communities[0][0])
        node.communities.join(self.people[2], self.communities[1][0])  # asks: pending
        for b, a in ((0, 2), (1, 0)):  # a gathering in each, with a pending registration
            self.person_schedule(0, b, 1)
            self.person_register(a, b, 0)

    def run(self, name: str, a: int, b: int, c: int) -> None:
        # Refused by the domain (not a 403), or nothing to pick from yet: no events, on we go.
        with contextlib.suppress(DomainError, NothingToPick):
            getattr(self, name)(a, b, c)

    def as_agent(self, n: int, method: str, path: str, act: Callable[[Caller], Any]) -> Any:
        """One request of agent ``n``: loaded afresh; a 403 is recorded, as the API does."""
        agent = self.node.agents.load(pick(self.agents, n))
        try:
            if not agent.active:
                raise PermissionDenied(f"this agent is {agent.status.value}")
            return act(Caller.of_agent(agent))
        except PermissionDenied as refused:
            scope = refused.scope if isinstance(refused, ScopeMissing) else None
            self.node.agents.refused(
                agent.id, method=method, path=path, scope=scope, reason=refused.detail
            )
            return None

    # -- the admins ---------------------------------------------------------------------

    def make_agent(self, a: int, b: int, c: int) -> None:
        slug, _, founder = pick(self.communities, b)
        scopes = [scope for i, scope in enumerate(POOL) if c >> i & 1]
        made = self.node.agents.create(
            founder, slug, name=f"Agent {len(self.agents)}", description="", scopes=scopes
        )
        self.agents.append(made.value.agent_id)

    def control(self, a: int, b: int, c: int) -> None:
        agent_id = pick(self.agents, a)
        founder = next(f for _, i, f in self.communities if i == self.community_of(agent_id))
        agents = self.node.agents
        match b % 4:
            case 0:
                agents.suspend(founder, agent_id)
            case 1:
                agents.resume(founder, agent_id)
            case 2:
                agents.change_scopes(
                    founder, agent_id, [s for i, s in enumerate(POOL) if c >> i & 1]
                )
            case _:
                agents.remove(founder, agent_id)

    def community_of(self, agent_id: UUID) -> UUID:
        return self.node.agents.load(agent_id).community_id

    # -- the agents, through what the API calls -------------------------------------------

    def agent_post(self, a: int, b: int, c: int) -> None:
        slug = pick(self.communities, b)[0]
        post = self.as_agent(
            a,
            "POST",
            f"/api/v1/communities/{slug}/posts",
            lambda me: self.node.posts.publish(me, slug, f"Post {c}", None),
        )
        if post is not None:
            self.posts.append(post.value)

    def agent_edit(self, a: int, b: int, c: int) -> None:
        post_id = pick(self.posts, b)
        path = f"/api/v1/posts/{post_id}"
        self.as_agent(a, "PATCH", path, lambda me: self.node.posts.edit(me, post_id, f"Ed {c}"))

    def agent_delete(self, a: int, b: int, c: int) -> None:
        post_id = pick(self.posts, b)
        path = f"/api/v1/posts/{post_id}"
        self.as_agent(a, "DELETE", path, lambda me: self.node.posts.delete(me, post_id))

    def agent_schedule(self, a: int, b: int, c: int) -> None:
        slug = pick(self.communities, b)[0]
        scheduled = self.as_agent(
            a,
            "POST",
            f"/api/v1/communities/{slug}/gatherings",
            lambda me: self.node.gatherings.schedule(me, slug, details(f"G {c}"), c % 3 or None),
        )
        if scheduled is not None:
            self.gatherings.append(scheduled.value)

    def agent_organise(self, a: int, b: int, c: int) -> None:
        gid = pick(self.gatherings, b)
        gatherings = self.node.gatherings
        acts: list[tuple[str, str, Callable[[Caller], Any]]] = [
            ("POST", "cancel", lambda me: gatherings.cancel(me, gid)),
            ("POST", "notices", lambda me: gatherings.send_notice(me, gid, f"Note {c}")),
            ("PUT", "", lambda me: gatherings.change_capacity(me, gid, c % 3 or None)),
        ]
        method, tail, act = acts[c % 3]
        self.as_agent(a, method, f"/api/v1/gatherings/{gid}/{tail}".rstrip("/"), act)

    def agent_decide_registration(self, a: int, b: int, c: int) -> None:
        gid, registration = pick(self.registrations, b)
        gatherings = self.node.gatherings
        decide = gatherings.approve_registration if c % 2 else gatherings.decline_registration
        verb = "approve" if c % 2 else "decline"
        path = f"/api/v1/gatherings/{gid}/registrations/{registration}/{verb}"
        self.as_agent(a, "POST", path, lambda me: decide(me, gid, registration))

    def agent_moderate(self, a: int, b: int, c: int) -> None:
        slug = pick(self.communities, b)[0]
        person = pick(self.people, c)
        communities = self.node.communities
        decide = communities.approve if c % 2 else communities.reject
        verb = "approve" if c % 2 else "reject"
        path = f"/api/v1/communities/{slug}/join-requests/{person}/{verb}"
        self.as_agent(a, "POST", path, lambda me: decide(me, slug, person))

    # -- the people -----------------------------------------------------------------------

    def person_post(self, a: int, b: int, c: int) -> None:
        slug = pick(self.communities, b)[0]
        self.posts.append(self.node.posts.publish(pick(self.people, a), slug, "Hi", None).value)

    def person_schedule(self, a: int, b: int, c: int) -> None:
        slug, _, founder = pick(self.communities, b)
        scheduled = self.node.gatherings.schedule(founder, slug, details(f"P {c}"), c % 3 or None)
        self.gatherings.append(scheduled.value)

    def person_register(self, a: int, b: int, c: int) -> None:
        gid = pick(self.gatherings, b)
        registered = self.node.gatherings.register_person(pick(self.people, a), gid).value
        self.registrations.append((gid, registered.registration_id))

    def person_delete(self, a: int, b: int, c: int) -> None:
        self.node.posts.delete(pick(self.people, a), pick(self.posts, b))


ACTIONS = [
    name
    for name, value in vars(World).items()
    if callable(value)
    and not name.startswith("_")
    and name not in {"set_up", "run", "as_agent", "community_of"}
]
# The agents' actions twice as likely: they are what the property is about.
WEIGHTED = [*ACTIONS, *(name for name in ACTIONS if name.startswith("agent_"))]
NUMBERS = st.integers(min_value=0, max_value=7)
STEPS = st.lists(
    st.tuples(st.sampled_from(WEIGHTED), NUMBERS, NUMBERS, NUMBERS, st.booleans()),
    min_size=5,
    max_size=50,
)
PRELUDE = [
    ("make_agent", 0, 0, 0b0011),
    ("make_agent", 0, 1, 0b0101),
    ("agent_post", 0, 0, 0),
    ("agent_schedule", 0, 0, 1),
]


# -- the truth, read from the log ---------------------------------------------------------------


def read_log(node: Container, after: int) -> Iterator[tuple[int, DomainEvent]]:
    position = after
    while page := node.log.recorder.select_notifications(start=position + 1, limit=500):
        for notification in page:
            event = node.log.mapper.to_domain_event(notification)
            assert isinstance(event, DomainEvent)
            yield notification.id, event
        position = page[-1].id


def communities_of_things(log: list[tuple[int, DomainEvent]]) -> dict[UUID, UUID]:
    """Each community thing's community, as its first event names it."""
    things: dict[UUID, UUID] = {}
    for _, event in log:
        if isinstance(event, Community.Founded):
            things[event.originator_id] = event.originator_id
        elif isinstance(event, Gathering.Scheduled | Post.Published | Agent.Created):
            things[event.originator_id] = event.community_id
    return things


def whole_trail(trail: Trail, community_id: UUID, actor: str | None) -> list[AuditEntry]:
    """Read in small pages, each after the last position of the one before."""
    entries: list[AuditEntry] = []
    while page := trail.entries(
        community_id, actor=actor, after=entries[-1].position if entries else 0, limit=3
    ):
        entries += page
    return entries


def check_scopes(entries: list[AuditEntry], log: dict[int, DomainEvent]) -> None:
    """An agent's act shows the scope it took, one the agent held then; a refused attempt
    shows the scope it lacked, why, and what it asked."""
    scopes_then: dict[str, set[str]] = {}
    authors = {e.originator_id: e.actor for e in log.values() if isinstance(e, Post.Published)}
    by_position = {entry.position: entry for entry in entries}
    for position, event in sorted(log.items()):
        if isinstance(event, Agent.Created | Agent.ScopesChanged):
            scopes_then[f"agent:{event.originator_id}"] = set(event.scopes)
        entry = by_position.get(position)
        if entry is None:
            continue
        if isinstance(event, Agent.AttemptRefused):
            assert (entry.scope, entry.detail) == (event.scope, event.reason)
            assert entry.request == f"{event.method} {event.path}"
            continue
        expected = SCOPE_OF[type(event)]
        if isinstance(event, Post.Deleted) and authors[event.originator_id] != event.actor:
            expected = "moderation:write"
        assert entry.scope == expected, (entry, event)
        assert expected in scopes_then[event.actor], (entry, scopes_then[event.actor])
        assert entry.detail is None


def check_trails(world: World, after: int) -> None:
    node = world.node
    log = list(read_log(node, after))
    things = communities_of_things(log)
    trail = Trail(node.read_store)
    home = {f"agent:{agent}": world.community_of(agent) for agent in world.agents}
    # An agent never causes an event outside its own community.
    for _, event in log:
        if event.actor in home:
            assert things.get(event.originator_id) == home[event.actor], event
    actors = [*home, *(f"person:{person}" for person in world.people)]
    for _, community_id, _ in world.communities:
        ours = {p: e for p, e in log if things.get(e.originator_id) == community_id}
        everything = whole_trail(trail, community_id, None)
        assert [entry.position for entry in everything] == sorted(ours)
        for actor in actors:
            entries = whole_trail(trail, community_id, actor)
            expected = [p for p, e in sorted(ours.items()) if e.actor == actor]
            assert [entry.position for entry in entries] == expected, actor
            assert {entry.actor for entry in entries} <= {actor}
            if actor in home:
                for entry in entries:  # what was covered: --hypothesis-show-statistics
                    covered(entry.action)
                check_scopes(entries, dict(log))
                assert all(entry.actor_label.startswith("agent Agent ") for entry in entries)
            else:
                assert all(entry.scope is None for entry in entries)


# -- the property ---------------------------------------------------------------------------------


@pytest.fixture
def shared_node(database_url: str) -> Iterator[Container]:
    node = build(settings_for(database_url))
    yield node
    node.close()


def test_the_world_knows_every_kind_of_action() -> None:
    """Guard: a misspelt or renamed action would silently do nothing in the property."""
    assert len(ACTIONS) == 13
    assert {"make_agent", "control", "agent_moderate", "person_register"} <= set(ACTIONS)


EXAMPLES = itertools.count()


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # one node for all examples, on purpose
    ],
)
@given(steps=STEPS)
def test_each_actors_trail_is_exactly_its_events_in_the_log(
    shared_node: Container, steps: list[tuple[str, int, int, int, bool]]
) -> None:
    node = shared_node
    start = node.projections.head()
    world = World(node, tag=f"w{next(EXAMPLES)}")
    world.set_up()
    for name, a, b, c in PRELUDE:
        world.run(name, a, b, c)
    for name, a, b, c, catch_up in steps:
        world.run(name, a, b, c)
        if catch_up:
            node.projections.catch_up()
    node.projections.catch_up()
    check_trails(world, start)
