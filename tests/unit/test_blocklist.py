"""Blocklist: the node's blocked domains and actors, as given-when-then on the aggregate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate

from kunveno.application.log import EventLog
from kunveno.domain.actor import Actor, check_actor_url
from kunveno.domain.blocklist import (
    BLOCKLIST_ID,
    Blocklist,
    normalise_domain,
)
from kunveno.domain.errors import InvalidValue

NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
ADMIN = Actor.person(UUID(int=0xA1))
SPAMMER = "https://spam.example/users/bot"


def started(history: list[CanMutateAggregate[UUID]] | None = None) -> Blocklist:
    blocklist = Blocklist.start(actor=Actor.system(), at=NOW)
    collected = blocklist.collect_events()
    if history is not None:
        history.extend(collected)
    return blocklist


def with_blocks() -> Blocklist:
    """A blocklist holding the domain spam.example and the actor SPAMMER, events collected."""
    blocklist = started()
    blocklist.block("domain", "spam.example", "spam", actor=ADMIN, at=NOW)
    blocklist.block("actor", SPAMMER, "spam", actor=ADMIN, at=NOW)
    blocklist.collect_events()
    return blocklist


def only_event(blocklist: Blocklist) -> object:
    [event] = blocklist.collect_events()
    return event


# -- starting --------------------------------------------------------------------------------


def test_the_blocklist_starts_empty_with_the_one_node_id() -> None:
    blocklist = Blocklist.start(actor=Actor.system(), at=NOW)

    event = only_event(blocklist)
    assert isinstance(event, Blocklist.Started)
    assert event.actor == "system"
    assert blocklist.id == BLOCKLIST_ID
    assert (blocklist.domains, blocklist.actors) == ([], [])


# -- blocking --------------------------------------------------------------------------------


def test_blocking_a_domain_normalises_it() -> None:
    blocklist = started()

    changed = blocklist.block("domain", "  Spam.Example. ", "spam", actor=ADMIN, at=LATER)

    event = only_event(blocklist)
    assert changed is True
    assert isinstance(event, Blocklist.Blocked)
    assert (event.kind, event.value, event.reason) == ("domain", "spam.example", "spam")
    assert (event.actor, event.timestamp) == (str(ADMIN), LATER)
    assert (blocklist.domains, blocklist.actors) == (["spam.example"], [])


def test_blocking_an_actor() -> None:
    blocklist = started()

    changed = blocklist.block("actor", f" {SPAMMER} ", "", actor=ADMIN, at=LATER)

    event = only_event(blocklist)
    assert changed is True
    assert isinstance(event, Blocklist.Blocked)
    assert (event.kind, event.value) == ("actor", SPAMMER)
    assert (blocklist.domains, blocklist.actors) == ([], [SPAMMER])


def test_a_long_reason_is_cut_to_500_characters() -> None:
    blocklist = started()

    blocklist.block("domain", "spam.example", "r" * 600, actor=ADMIN, at=NOW)

    event = only_event(blocklist)
    assert isinstance(event, Blocklist.Blocked)
    assert event.reason == "r" * 500


@pytest.mark.parametrize(
    ("kind", "value"),
    [("domain", "SPAM.example"), ("domain", "spam.example."), ("actor", SPAMMER)],
    ids=["domain-other-case", "domain-trailing-dot", "actor"],
)
def test_blocking_what_is_blocked_already_records_nothing(kind: str, value: str) -> None:
    blocklist = with_blocks()

    assert blocklist.block(kind, value, "again", actor=ADMIN, at=LATER) is False
    assert blocklist.collect_events() == []
    assert (blocklist.domains, blocklist.actors) == (["spam.example"], [SPAMMER])


def test_a_domain_with_a_port_is_a_domain() -> None:
    assert normalise_domain("Spam.Example:8443") == "spam.example:8443"


@pytest.mark.parametrize(
    "domain",
    ["", "   ", "spam example", "-spam.example", "spam-.example", "spam..example",
     "https://spam.example", "spam.example/path", "bücher.example", "a" * 64 + ".example",
     ("a" * 60 + ".") * 5 + "example"],
    ids=["empty", "blank", "space", "leading-hyphen", "trailing-hyphen", "empty-label",
         "url", "path", "non-ascii", "long-label", "too-long"],
)  # fmt: skip
def test_blocking_a_malformed_domain_is_refused(domain: str) -> None:
    blocklist = started()

    with pytest.raises(InvalidValue):
        blocklist.block("domain", domain, "", actor=ADMIN, at=NOW)
    assert blocklist.collect_events() == []
    assert blocklist.domains == []


@pytest.mark.parametrize(
    "url",
    ["", "spam.example/users/bot", "ftp://spam.example/users/bot", "https://spam.example",
     "https:///users/bot", "https://spam.example/users/a bot",
     "https://spam.example/" + "u" * 2000],
    ids=["empty", "no-scheme", "ftp", "no-path", "no-host", "space", "too-long"],
)  # fmt: skip
def test_blocking_a_malformed_actor_url_is_refused(url: str) -> None:
    blocklist = started()

    with pytest.raises(InvalidValue):
        blocklist.block("actor", url, "", actor=ADMIN, at=NOW)
    assert blocklist.collect_events() == []
    assert blocklist.actors == []


def test_an_actor_url_is_only_trimmed() -> None:
    assert check_actor_url(" https://Spam.example/Users/Bot\n") == "https://Spam.example/Users/Bot"


@pytest.mark.parametrize("kind", ["instance", "", "Domain"])
def test_blocking_something_that_is_neither_domain_nor_actor_is_refused(kind: str) -> None:
    blocklist = started()

    with pytest.raises(InvalidValue):
        blocklist.block(kind, "spam.example", "", actor=ADMIN, at=NOW)
    assert blocklist.collect_events() == []
    assert (blocklist.domains, blocklist.actors) == ([], [])


# -- unblocking ------------------------------------------------------------------------------


def test_unblocking_a_domain_normalises_it() -> None:
    blocklist = with_blocks()

    changed = blocklist.unblock("domain", "SPAM.example.", actor=ADMIN, at=LATER)

    event = only_event(blocklist)
    assert changed is True
    assert isinstance(event, Blocklist.Unblocked)
    assert (event.kind, event.value, event.actor) == ("domain", "spam.example", str(ADMIN))
    assert (blocklist.domains, blocklist.actors) == ([], [SPAMMER])


def test_unblocking_an_actor() -> None:
    blocklist = with_blocks()

    assert blocklist.unblock("actor", SPAMMER, actor=ADMIN, at=LATER) is True

    event = only_event(blocklist)
    assert isinstance(event, Blocklist.Unblocked)
    assert (blocklist.domains, blocklist.actors) == (["spam.example"], [])


@pytest.mark.parametrize(
    ("kind", "value"),
    [("domain", "other.example"), ("actor", "https://spam.example/users/other"),
     ("domain", "spam.example.org"),
     ("actor", "https://spam.example/")],
    ids=["other-domain", "other-actor", "similar-domain", "actor-of-blocked-domain"],
)  # fmt: skip
def test_unblocking_what_is_not_blocked_records_nothing(kind: str, value: str) -> None:
    blocklist = with_blocks()

    assert blocklist.unblock(kind, value, actor=ADMIN, at=LATER) is False
    assert blocklist.collect_events() == []
    assert (blocklist.domains, blocklist.actors) == (["spam.example"], [SPAMMER])


def test_unblocking_a_domain_does_not_unblock_an_actor_of_the_same_value() -> None:
    blocklist = started()
    blocklist.block("actor", "https://spam.example/x", "", actor=ADMIN, at=NOW)
    blocklist.collect_events()

    with pytest.raises(InvalidValue):
        blocklist.unblock("domain", "https://spam.example/x", actor=ADMIN, at=LATER)
    assert blocklist.actors == ["https://spam.example/x"]


def test_unblocking_a_malformed_value_is_refused() -> None:
    blocklist = with_blocks()

    with pytest.raises(InvalidValue):
        blocklist.unblock("domain", "not a domain", actor=ADMIN, at=LATER)
    with pytest.raises(InvalidValue):
        blocklist.unblock("other", "spam.example", actor=ADMIN, at=LATER)
    assert blocklist.collect_events() == []


def test_blocking_again_after_unblocking() -> None:
    blocklist = with_blocks()
    blocklist.unblock("domain", "spam.example", actor=ADMIN, at=LATER)
    blocklist.collect_events()

    assert blocklist.block("domain", "spam.example", "back", actor=ADMIN, at=LATER) is True
    assert isinstance(only_event(blocklist), Blocklist.Blocked)
    assert blocklist.domains == ["spam.example"]


# -- replay ----------------------------------------------------------------------------------


@pytest.fixture
def event_log() -> Iterator[EventLog]:
    log = EventLog(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield log
    log.close()


def test_the_recorded_events_replay_to_the_same_blocklist(event_log: EventLog) -> None:
    history: list[CanMutateAggregate[UUID]] = []
    blocklist = started(history)
    blocklist.block("domain", "spam.example", "spam", actor=ADMIN, at=NOW)
    blocklist.block("domain", "bad.example", "abuse", actor=ADMIN, at=NOW)
    blocklist.block("actor", SPAMMER, "", actor=ADMIN, at=NOW)
    blocklist.unblock("domain", "spam.example", actor=ADMIN, at=LATER)
    blocklist.block("actor", "https://other.example/u/1", "", actor=ADMIN, at=LATER)
    history.extend(blocklist.collect_events())
    assert len(history) == blocklist.version == 6

    event_log.save(*history)
    replayed: Aggregate = event_log.repository.get(BLOCKLIST_ID)

    assert replayed is not blocklist
    assert type(replayed) is Blocklist
    assert isinstance(replayed, Blocklist)
    assert vars(replayed) == vars(blocklist)
    assert replayed.domains == ["bad.example"]
    assert replayed.actors == [SPAMMER, "https://other.example/u/1"]
