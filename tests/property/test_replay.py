"""Replay determinism of the read models: rebuilding every view from the log, in one go, gives
exactly the rows the views got by folding the same log page by page as it grew.

Hypothesis generates a sequence of commands (people, communities, memberships, roles,
gatherings, registrations, posts), runs them through the services of an in-memory node and
catches the views up at random points in between; commands the domain refuses are part of the
game and simply leave no events.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kunveno.bootstrap import Container, build
from kunveno.domain.community import Membership, Role, Visibility
from kunveno.domain.errors import DomainError
from kunveno.domain.gathering import GatheringDetails, JoinMode
from kunveno.projections.store import Row
from kunveno.projections.views import ALL_VIEWS
from kunveno.settings import Settings

TABLES = (*(table for view in ALL_VIEWS for table in view.tables), "rm_tracking")
STARTS = datetime(2030, 2, 1, 18, 0, tzinfo=UTC)
T = TypeVar("T")


class NothingToPick(Exception):
    """A command needs something (a person, a post) that the sequence has not made yet."""


def pick(items: Sequence[T], n: int) -> T:
    if not items:
        raise NothingToPick
    return items[n % len(items)]


class TickingClock:
    def __init__(self) -> None:
        self._now = datetime(2030, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now


def details(title: str, join_mode: JoinMode, anonymous: bool) -> GatheringDetails:
    return GatheringDetails(
        title=title,
        description="",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(hours=2),
        timezone="Europe/Amsterdam",
        location="Library",
        online_url=None,
        join_mode=join_mode,
        anonymous_registration=anonymous,
    )


@dataclass
class Scenario:
    """Runs numbered commands against a node; numbers pick among what exists so far."""

    node: Container
    people: list[UUID] = field(default_factory=list)
    communities: list[tuple[str, UUID]] = field(default_factory=list)  # slug, founder
    gatherings: list[tuple[UUID, UUID]] = field(default_factory=list)  # id, organiser
    registrations: list[tuple[UUID, UUID | None, str | None]] = field(default_factory=list)
    posts: list[UUID] = field(default_factory=list)

    def run(self, name: str, a: int, b: int, c: int) -> None:
        # Refused by the domain, or nothing to pick from yet: no events, and on we go.
        with contextlib.suppress(DomainError, NothingToPick):
            getattr(self, name)(a, b, c)

    def person(self, n: int) -> UUID:
        return pick(self.people, n)

    def community(self, n: int) -> tuple[str, UUID]:
        return pick(self.communities, n)

    def gathering(self, n: int) -> tuple[UUID, UUID]:
        return pick(self.gatherings, n)

    # -- commands (each takes three numbers) ---------------------------------------------

    def sign_up(self, a: int, b: int, c: int) -> None:
        name = f"user{a % 6}"
        self.people.append(self.node.accounts.register(name, "s3cret-pass", None, None).value)

    def found(self, a: int, b: int, c: int) -> None:
        slug, founder = f"c{b % 3}", self.person(a)
        self.node.communities.found(
            founder,
            slug=slug,
            name=f"Community {b}",
            summary="",
            visibility=[Visibility.PUBLIC, Visibility.PRIVATE][c % 2],
            membership=[Membership.OPEN, Membership.APPROVAL][c // 2 % 2],
        )
        self.communities.append((slug, founder))

    def join(self, a: int, b: int, c: int) -> None:
        self.node.communities.join(self.person(a), self.community(b)[0])

    def approve_member(self, a: int, b: int, c: int) -> None:
        slug, founder = self.community(b)
        self.node.communities.approve(founder, slug, self.person(a))

    def reject_member(self, a: int, b: int, c: int) -> None:
        slug, founder = self.community(b)
        self.node.communities.reject(founder, slug, self.person(a))

    def leave(self, a: int, b: int, c: int) -> None:
        self.node.communities.leave(self.person(a), self.community(b)[0])

    def change_role(self, a: int, b: int, c: int) -> None:
        slug, founder = self.community(b)
        self.node.communities.change_role(founder, slug, self.person(a), list(Role)[c % 4])

    def remove(self, a: int, b: int, c: int) -> None:
        slug, founder = self.community(b)
        self.node.communities.remove(founder, slug, self.person(a))

    def schedule(self, a: int, b: int, c: int) -> None:
        slug, founder = self.community(b)
        mode = [JoinMode.FREE, JoinMode.APPROVAL][c % 2]
        gathering = details(f"Gathering {a}", mode, anonymous=c % 3 != 0)
        capacity = [None, 0, 1, 2, 3][a % 5]
        gid = self.node.gatherings.schedule(founder, slug, gathering, capacity).value
        self.gatherings.append((gid, founder))

    def change_details(self, a: int, b: int, c: int) -> None:
        gid, organiser = self.gathering(b)
        gathering = details(f"Renamed {a}", [JoinMode.FREE, JoinMode.APPROVAL][c % 2], True)
        self.node.gatherings.change_details(organiser, gid, gathering)

    def change_capacity(self, a: int, b: int, c: int) -> None:
        gid, organiser = self.gathering(b)
        self.node.gatherings.change_capacity(organiser, gid, [None, 0, 1, 2, 3][a % 5])

    def cancel_gathering(self, a: int, b: int, c: int) -> None:
        gid, organiser = self.gathering(b)
        self.node.gatherings.cancel(organiser, gid)

    def register_person(self, a: int, b: int, c: int) -> None:
        person = self.person(a)
        registered = self.node.gatherings.register_person(person, self.gathering(b)[0]).value
        self.registrations.append((registered.registration_id, person, None))

    def register_anonymous(self, a: int, b: int, c: int) -> None:
        email = None if c % 2 else f"guest{a}@example.org"
        registered = self.node.gatherings.register_anonymous(self.gathering(b)[0], email).value
        self.registrations.append((registered.registration_id, None, registered.cancel_token))

    def cancel_registration(self, a: int, b: int, c: int) -> None:
        registration_id, person, token = pick(self.registrations, a)
        self.node.gatherings.cancel_registration(
            registration_id, person_id=person, cancel_token=token
        )

    def approve_registration(self, a: int, b: int, c: int) -> None:
        registration_id = pick(self.registrations, a)[0]
        gid, organiser = self.gathering(b)
        self.node.gatherings.approve_registration(organiser, gid, registration_id)

    def decline_registration(self, a: int, b: int, c: int) -> None:
        registration_id = pick(self.registrations, a)[0]
        gid, organiser = self.gathering(b)
        self.node.gatherings.decline_registration(organiser, gid, registration_id)

    def publish(self, a: int, b: int, c: int) -> None:
        parent = pick(self.posts, c) if self.posts and c % 2 else None
        post_id = self.node.posts.publish(
            self.person(a), self.community(b)[0], f"Post {a} {b}", parent
        ).value
        self.posts.append(post_id)

    def edit(self, a: int, b: int, c: int) -> None:
        self.node.posts.edit(self.person(a), pick(self.posts, b), f"Edited {c}")

    def delete(self, a: int, b: int, c: int) -> None:
        self.node.posts.delete(self.person(a), pick(self.posts, b))


COMMANDS = [
    name
    for name, value in vars(Scenario).items()
    if callable(value)
    and not name.startswith("_")
    and name not in {"run", "person", "community", "gathering"}
]
PRELUDE = [
    ("sign_up", 0, 0, 0),
    ("sign_up", 1, 0, 0),
    ("found", 0, 0, 0),
    ("schedule", 1, 0, 0),
    ("register_person", 1, 0, 0),
    ("publish", 1, 0, 0),
]
NUMBERS = st.integers(min_value=0, max_value=30)
STEPS = st.lists(
    st.tuples(st.sampled_from(COMMANDS), NUMBERS, NUMBERS, NUMBERS, st.booleans()),
    min_size=5,
    max_size=50,
)


def snapshot(node: Container) -> dict[str, list[Row]]:
    def key(row: Row) -> list[tuple[str, str]]:
        return sorted((column, repr(value)) for column, value in row.items())

    return {
        table: sorted(node.read_store.query(f"SELECT * FROM {table}"), key=key) for table in TABLES
    }


def new_node() -> Container:
    return build(
        Settings(database_url="memory://", password_time_cost=1, password_memory_kib=8),
        clock=TickingClock(),
    )


def test_the_scenario_knows_every_kind_of_command() -> None:
    """Guard: a misspelt or renamed command would silently do nothing in the property."""
    assert len(COMMANDS) == 20
    assert {"sign_up", "found", "register_anonymous", "delete"} <= set(COMMANDS)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=STEPS)
def test_a_full_rebuild_gives_the_rows_of_the_incremental_fold(
    steps: list[tuple[str, int, int, int, bool]],
) -> None:
    node = new_node()
    try:
        scenario = Scenario(node)
        for name, a, b, c in PRELUDE:
            scenario.run(name, a, b, c)
        for name, a, b, c, catch_up in steps:
            scenario.run(name, a, b, c)
            if catch_up:
                node.projections.catch_up()
        node.projections.catch_up()
        incremental = snapshot(node)

        node.projections.rebuild()

        assert snapshot(node) == incremental
        for table in ("rm_people", "rm_members", "rm_gatherings", "rm_registrations", "rm_posts"):
            assert incremental[table], f"{table} is empty: the comparison proves nothing"
    finally:
        node.close()
