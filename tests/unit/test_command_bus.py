"""Group commit: commands waiting together are decided in order and saved in one write."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from kunveno.application.log import Decision, Outcome
from kunveno.bootstrap import Container, build
from kunveno.domain.community import Membership, Visibility
from kunveno.domain.errors import CapacityBelowConfirmed, DomainError
from kunveno.domain.gathering import Gathering, GatheringDetails, JoinMode
from kunveno.settings import Settings


@pytest.fixture
def node() -> Iterator[Container]:
    container = build(
        Settings(database_url="memory://", password_time_cost=1, password_memory_kib=8)
    )
    yield container
    container.close()


def details(title: str = "Walk") -> GatheringDetails:
    start = datetime.now(UTC) + timedelta(days=2)
    return GatheringDetails(
        title, "", start, start + timedelta(hours=1), "UTC", None, None, JoinMode.FREE, True
    )


def organiser_with_gathering(node: Container, capacity: int) -> tuple[UUID, UUID]:
    person = node.accounts.register("olga", "password1", None, None).value
    node.communities.found(
        person,
        slug="walkers",
        name="Walkers",
        summary="",
        visibility=Visibility.PUBLIC,
        membership=Membership.OPEN,
    )
    return person, node.gatherings.schedule(person, "walkers", details(), capacity).value


def in_one_batch(node: Container, commands: list[Callable[[], Outcome[Any]]]) -> list[Any]:
    """Hold the writer busy until every command is queued, so they form one batch."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> Decision[None]:
        holding.set()
        release.wait(5)
        return [], None

    holder = threading.Thread(target=node.commands.run, args=(hold,))
    holder.start()
    assert holding.wait(5), "the writer did not take the holding command"
    results: list[Any] = [None] * len(commands)

    def call(index: int) -> None:
        try:
            results[index] = commands[index]()
        except DomainError as error:
            results[index] = error

    callers = [threading.Thread(target=call, args=(i,)) for i in range(len(commands))]
    for caller in callers:
        caller.start()
    for _ in range(5000):
        if node.commands.waiting() == len(commands):
            break
        threading.Event().wait(0.001)
    release.set()
    for thread in [holder, *callers]:
        thread.join(5)
    return results


def test_commands_of_one_batch_see_each_others_seats_and_share_one_write(
    node: Container,
) -> None:
    _, gathering_id = organiser_with_gathering(node, capacity=2)
    register = lambda: node.gatherings.register_anonymous(gathering_id, None)  # noqa: E731
    outcomes = in_one_batch(node, [register, register, register])

    statuses = sorted(o.value.status.value for o in outcomes)
    assert statuses == ["confirmed", "confirmed", "waitlisted"]
    assert len({o.position for o in outcomes}) == 1  # one transaction for the batch
    gathering = node.log.load(Gathering, gathering_id, "gathering")
    assert gathering.confirmed_count == 2


def test_a_command_failing_halfway_leaves_no_trace_and_the_others_are_saved(
    node: Container,
) -> None:
    organiser, gathering_id = organiser_with_gathering(node, capacity=3)
    node.gatherings.register_anonymous(gathering_id, None)
    node.gatherings.register_anonymous(gathering_id, None)
    version_before = node.log.load(Gathering, gathering_id, "gathering").version

    # Changes the title, then refuses the capacity: the title change must not be saved.
    half = lambda: node.gatherings.change(  # noqa: E731
        organiser, gathering_id, details("Renamed"), 1
    )
    register = lambda: node.gatherings.register_anonymous(gathering_id, None)  # noqa: E731
    results = in_one_batch(node, [register, half, register])

    assert isinstance(results[1], CapacityBelowConfirmed)
    # The two registrations queued in either order: one took the last seat.
    assert sorted(r.value.status.value for r in (results[0], results[2])) == [
        "confirmed",
        "waitlisted",
    ]
    gathering = node.log.load(Gathering, gathering_id, "gathering")
    assert gathering.title == "Walk"
    assert gathering.version == version_before + 2
    node.projections.catch_up()
    assert node.queries.gathering(str(gathering_id))["title"] == "Walk"  # type: ignore[index]


def test_a_command_raising_an_unexpected_error_answers_its_caller_only(
    node: Container,
) -> None:
    _, gathering_id = organiser_with_gathering(node, capacity=None)  # type: ignore[arg-type]

    def broken() -> Outcome[None]:
        def decide() -> Decision[None]:
            raise RuntimeError("boom")

        return node.commands.run(decide)

    with pytest.raises(RuntimeError, match="boom"):
        broken()
    assert node.gatherings.register_anonymous(gathering_id, None).value.status.value == (
        "confirmed"
    )
