"""Read models survive restarts and a second runner: folding resumes exactly where the tracking
table says, and whatever the interleaving the tables equal a rebuild from zero."""

from __future__ import annotations

import threading
from uuid import UUID

import pytest
from reliability_support import (
    AppliedOnce,
    all_notifications,
    settings_for,
    snapshot,
    write_mixed_history,
)

from kunveno.bootstrap import Container, build
from kunveno.domain.base import DomainEvent
from kunveno.projections import runner as runner_module
from kunveno.projections.runner import ProjectionRunner
from kunveno.projections.views import ALL_VIEWS, PeopleView, PostsView


@pytest.fixture
def history(database_url: str) -> str:
    """A database holding a few hundred events of mixed kinds, none folded yet."""
    node = build(settings_for(database_url))
    try:
        write_mixed_history(node)
        assert node.projections.head() >= 250
        assert {s.position for s in node.projections.status()} == {0}
    finally:
        node.close()
    return database_url


def positions(node: Container) -> dict[str, int]:
    return {status.name: status.position for status in node.projections.status()}


def assert_equals_a_rebuild(node: Container) -> None:
    head = node.projections.head()
    assert set(positions(node).values()) == {head}
    folded = snapshot(node)
    node.projections.rebuild()
    assert set(positions(node).values()) == {head}
    assert snapshot(node) == folded


@pytest.mark.parametrize("page", [7, 64])
def test_a_restarted_node_resumes_from_its_tracking_positions(
    history: str, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    monkeypatch.setattr(runner_module, "PAGE_SIZE", page)
    first = build(settings_for(history))
    try:
        assert first.projections.step() == page
        assert first.projections.step() == page
        stopped_at = all_notifications(first)[2 * page - 1].id
        assert set(positions(first).values()) == {stopped_at}
        partial = snapshot(first)
    finally:
        first.close()  # the restart

    restarted = build(settings_for(history))
    try:
        # It starts from where the first one stopped, not from zero and not from the head...
        assert set(positions(restarted).values()) == {stopped_at}
        assert snapshot(restarted) == partial
        restarted.projections.catch_up()
        # ...and ends where a rebuild from zero ends.
        assert_equals_a_rebuild(restarted)
    finally:
        restarted.close()


def test_views_at_different_positions_each_resume_from_their_own(
    history: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A view can be ahead of the others (say, the others were just upgraded and rebuild)."""
    monkeypatch.setattr(runner_module, "PAGE_SIZE", 50)
    node = build(settings_for(history))
    try:
        ahead = ProjectionRunner(node.log, node.read_store, [PeopleView(), PostsView()])
        ahead.setup()
        ahead.catch_up()
    finally:
        node.close()
    node = build(settings_for(history))
    try:
        node.projections.step()
        seen = positions(node)
        assert seen["people"] == seen["posts"] == node.projections.head()
        assert seen["registrations"] == all_notifications(node)[49].id
    finally:
        node.close()

    restarted = build(settings_for(history))
    try:
        restarted.projections.catch_up()
        assert_equals_a_rebuild(restarted)
    finally:
        restarted.close()


def counting_runner(node: Container) -> ProjectionRunner:
    """The node's views plus one that records every application of every event."""
    projections = [view() for view in ALL_VIEWS] + [AppliedOnce()]
    runner = ProjectionRunner(node.log, node.read_store, projections)
    runner.setup()
    return runner


def catch_up_together(runners: list[ProjectionRunner]) -> list[str]:
    barrier = threading.Barrier(len(runners))
    errors: list[str] = []

    def catch_up(runner: ProjectionRunner) -> None:
        try:
            barrier.wait(timeout=30)
            runner.catch_up()
        except Exception as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=catch_up, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a runner hung"
    return errors


def assert_each_event_applied_once(node: Container) -> None:
    events = [
        (str(n.originator_id), n.originator_version)
        for n in all_notifications(node)
        if isinstance(node.log.mapper.to_domain_event(n), DomainEvent)
    ]
    applied = [
        (str(row["originator_id"]), int(row["originator_version"]))
        for row in node.read_store.query("SELECT * FROM rm_applied_once")
    ]
    assert sorted(applied) == sorted(events)


def test_two_nodes_catching_up_together_apply_each_event_once(
    history: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "PAGE_SIZE", 16)  # many pages: many races to win
    nodes = [build(settings_for(history)) for _ in range(2)]
    try:
        runners = [counting_runner(node) for node in nodes]

        assert catch_up_together(runners) == []
        assert_each_event_applied_once(nodes[0])

        # Again with the log growing while they fold.
        more = threading.Thread(target=write_more, args=(nodes[1], 40))
        more.start()
        errors = catch_up_together(runners)
        more.join(timeout=60)
        errors += catch_up_together(runners)
        assert errors == []
        head = nodes[0].projections.head()
        assert {s.position for s in runners[1].status()} == {head}
        assert_each_event_applied_once(nodes[0])

        folded = snapshot(nodes[0])
        runners[0].rebuild()
        assert snapshot(nodes[1]) == folded
    finally:
        for node in nodes:
            node.close()


def write_more(node: Container, registrations: int) -> None:
    rows = node.read_store.query(
        "SELECT g.id FROM rm_gatherings g JOIN rm_communities c ON c.id = g.community_id "
        "WHERE g.status = 'scheduled' AND c.visibility = 'public' ORDER BY g.id"
    )
    assert rows, "the history has a public, scheduled gathering"
    for _ in range(registrations):
        node.gatherings.register_anonymous(UUID(rows[0]["id"]), "late@example.org")
