"""Person, access tokens and name claims: names, emails and what registering records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from kunveno.domain.actor import Actor
from kunveno.domain.errors import InvalidValue
from kunveno.domain.names import NameClaim, normalise_slug, normalise_username
from kunveno.domain.person import (
    MAX_DISPLAY_NAME,
    SECRET_TOPICS,
    AccessToken,
    Person,
    check_email,
)
from kunveno.domain.pii import reveal

NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
PERSON = UUID(int=0xA0)


def register(display_name: str = "Ada", email: str | None = None) -> Person:
    return Person.register(
        person_id=PERSON,
        username="ada",
        display_name=display_name,
        email=email,
        password_hash="$argon2id$fake",
        at=NOW,
    )


# -- usernames and slugs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [("  Ada_Lovelace ", "ada_lovelace"), ("ADA", "ada"), ("a" * 64, "a" * 64), ("_1", "_1")],
)
def test_username_is_normalised_to_lower_case(given: str, normalised: str) -> None:
    assert normalise_username(given) == normalised


@pytest.mark.parametrize(
    "given",
    ["", "   ", "ada lovelace", "ada-lovelace", "ada!", "adé", "a" * 65, "ada\nx"],
    ids=repr,
)
def test_username_outside_the_allowed_characters_is_refused(given: str) -> None:
    with pytest.raises(InvalidValue):
        normalise_username(given)


@pytest.mark.parametrize(("given", "normalised"), [(" Menders ", "menders"), ("A-b_c", "a-b_c")])
def test_slug_is_normalised_to_lower_case(given: str, normalised: str) -> None:
    assert normalise_slug(given) == normalised


@pytest.mark.parametrize(
    "given", ["", "-menders", "menders-", "_x", "men ders", "a" * 65], ids=repr
)
def test_slug_of_a_bad_shape_is_refused(given: str) -> None:
    with pytest.raises(InvalidValue):
        normalise_slug(given)


def test_a_name_claim_lives_under_an_id_derived_from_kind_and_name() -> None:
    claim = NameClaim.claim("username", "ada", PERSON, Actor.person(PERSON), NOW)

    assert claim.id == NameClaim.id_for("username", "ada")
    assert claim.owner_id == PERSON
    assert NameClaim.id_for("username", "ada") != NameClaim.id_for("community", "ada")
    assert NameClaim.id_for("username", "ada") != NameClaim.id_for("username", "bob")


# -- registering -----------------------------------------------------------------------------


def test_registering_records_the_person_then_the_password_in_its_own_event() -> None:
    person = register(email=" ada@example.org ")

    registered, password_set = person.collect_events()
    assert isinstance(registered, Person.Registered)
    assert (registered.username, reveal(registered.email)) == ("ada", "ada@example.org")
    # Personal fields are the person's PII: encrypted with their key when stored.
    assert registered.email.subject == registered.originator_id
    assert not hasattr(registered, "password_hash")
    assert isinstance(password_set, Person.PasswordSet)
    assert reveal(password_set.password_hash) == "$argon2id$fake"
    assert Person.PasswordSet.TOPIC in SECRET_TOPICS


def test_a_blank_display_name_falls_back_to_the_username() -> None:
    assert register(display_name="   ").display_name == "ada"


def test_an_overlong_display_name_is_refused() -> None:
    with pytest.raises(InvalidValue):
        register(display_name="d" * (MAX_DISPLAY_NAME + 1))


def test_no_email_is_accepted() -> None:
    assert register(email=None).email is None


@pytest.mark.parametrize(
    "email",
    [
        "ada",
        "@example.org",
        "ada@localhost",
        "ada lovelace@example.org",
        "",
        "a@" + "e" * 250 + ".org",
        "a@b@c.org",
        "ada@.",
        "ada@example..org",
        "ada\n@example.org",
    ],
    ids=[
        "no-at",
        "no-local",
        "no-dot",
        "space",
        "empty",
        "overlong",
        "two-ats",
        "empty-labels",
        "empty-label",
        "newline",
    ],
)
def test_a_bad_email_is_refused(email: str) -> None:
    with pytest.raises(InvalidValue):
        register(email=email)


def test_check_email_strips_a_good_address() -> None:
    assert check_email("\tada@example.org ") == "ada@example.org"


def test_changing_the_profile_records_the_new_display_name() -> None:
    person = register()
    person.collect_events()

    person.change_profile("  Countess  ", actor=Actor.person(PERSON), at=NOW)

    [event] = person.collect_events()
    assert isinstance(event, Person.ProfileChanged)
    assert person.display_name == "Countess"


# -- access tokens ---------------------------------------------------------------------------


def test_an_issued_token_is_not_revoked() -> None:
    token = AccessToken.issue(
        token_id=UUID(int=1), person_id=PERSON, at=NOW, expires_at=NOW + timedelta(days=30)
    )

    [event] = token.collect_events()
    assert isinstance(event, AccessToken.Issued)
    assert (token.person_id, token.revoked) == (PERSON, False)


def test_revoking_a_token_twice_records_once() -> None:
    token = AccessToken.issue(
        token_id=UUID(int=1), person_id=PERSON, at=NOW, expires_at=NOW + timedelta(days=30)
    )
    token.collect_events()

    token.revoke(actor=Actor.person(PERSON), at=NOW)
    token.revoke(actor=Actor.person(PERSON), at=NOW)

    assert [type(e) for e in token.collect_events()] == [AccessToken.Revoked]
    assert token.revoked
