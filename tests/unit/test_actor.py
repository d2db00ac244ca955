"""Actor: the one-string form of who caused an event, and its parsing."""

from __future__ import annotations

from uuid import UUID

import pytest

from kunveno.domain.actor import Actor, ActorKind

PERSON = UUID("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")


@pytest.mark.parametrize(
    ("actor", "text"),
    [
        (Actor.person(PERSON), f"person:{PERSON}"),
        (Actor.agent(PERSON), f"agent:{PERSON}"),
        (
            Actor.remote("https://social.example/users/ada"),
            "remote:https://social.example/users/ada",
        ),
        (Actor.system(), "system"),
        (Actor.anonymous(), "anonymous"),
    ],
    ids=lambda value: str(value)[:12],
)
def test_an_actor_and_its_string_round_trip(actor: Actor, text: str) -> None:
    assert str(actor) == text
    assert Actor.parse(text) == actor


def test_parsing_an_upper_case_uuid_gives_the_same_person() -> None:
    assert Actor.parse(f"person:{str(PERSON).upper()}") == Actor.person(PERSON)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nobody",
        "person",
        "person:",
        "agent:",
        "remote:",
        "system:root",
        "anonymous:x",
        "Person:6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "person:not-a-uuid",
        "agent:42",
    ],
    ids=repr,
)
def test_a_string_that_is_no_actor_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"actor|ActorKind"):
        Actor.parse(text)


def test_only_a_person_has_a_person_id() -> None:
    assert Actor.person(PERSON).person_id == PERSON
    assert [a.person_id for a in (Actor.agent(PERSON), Actor.remote("https://x.example/u"))] == [
        None,
        None,
    ]


def test_system_and_anonymous_carry_no_reference() -> None:
    assert [Actor.system().has_ref, Actor.anonymous().has_ref, Actor.person(PERSON).has_ref] == [
        False,
        False,
        True,
    ]
    assert Actor.parse("system").kind is ActorKind.SYSTEM
