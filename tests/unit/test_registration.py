"""Registration: who registered, and the key that makes a named participant unique."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from kunveno.domain.errors import InvalidValue
from kunveno.domain.registration import ParticipantKind, Registration

NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
GATHERING = UUID(int=0x6A)
PERSON = UUID(int=0x2001)


def test_a_person_registration_is_keyed_by_the_person() -> None:
    registration = Registration.for_person(
        registration_id=UUID(int=1), gathering_id=GATHERING, person_id=PERSON, at=NOW
    )

    [event] = registration.collect_events()
    assert isinstance(event, Registration.Submitted)
    assert (event.kind, event.person_id, event.actor) == ("person", PERSON, f"person:{PERSON}")
    assert registration.participant == f"person:{PERSON}"


def test_an_anonymous_registration_has_no_participant_key() -> None:
    registration = Registration.anonymous(
        registration_id=UUID(int=1),
        gathering_id=GATHERING,
        email=" guest@example.org ",
        cancel_token_hash="ab" * 32,
        at=NOW,
    )

    assert registration.kind is ParticipantKind.ANONYMOUS
    assert registration.participant is None
    assert registration.email == "guest@example.org"
    assert registration.cancel_token_hash == "ab" * 32


def test_an_anonymous_registration_with_a_bad_email_is_refused() -> None:
    with pytest.raises(InvalidValue):
        Registration.anonymous(
            registration_id=UUID(int=1),
            gathering_id=GATHERING,
            email="not-an-address",
            cancel_token_hash="ab" * 32,
            at=NOW,
        )
