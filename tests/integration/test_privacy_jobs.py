"""An anonymous registrant's email is dropped once the gathering has ended (the scheduled
privacy job): unreadable in the log too, while the registration still counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from conftest import test_settings as settings_for
from kunveno.bootstrap import Container, build
from kunveno.domain.community import Membership, Visibility
from kunveno.domain.gathering import GatheringDetails, JoinMode
from kunveno.domain.registration import Registration


class HandClock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def node(database_url: str, clock: HandClock) -> Iterator[Container]:
    container = build(settings_for(database_url), clock=clock)
    yield container
    container.close()


def test_the_contact_of_anonymous_registrants_is_dropped_after_the_gathering(
    node: Container, clock: HandClock
) -> None:
    olga = node.accounts.register("olga", "s3cret-pass", None, None).value
    node.communities.found(
        olga,
        slug="menders",
        name="Menders",
        summary="",
        visibility=Visibility.PUBLIC,
        membership=Membership.OPEN,
    )
    starts = clock.moment + timedelta(days=2)
    details = GatheringDetails(
        title="Repair café",
        description="",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        timezone="Europe/Amsterdam",
        location=None,
        online_url=None,
        join_mode=JoinMode.FREE,
        anonymous_registration=True,
    )
    gathering_id = node.gatherings.schedule(olga, "menders", details, None).value
    with_email = node.gatherings.register_anonymous(gathering_id, "anon@example.org").value
    without = node.gatherings.register_anonymous(gathering_id, None).value
    node.projections.catch_up()

    def email_of(registration_id: UUID) -> str | None:
        return node.log.load(Registration, registration_id, "registration").email

    assert node.privacy.drop_ended_contacts() == 0  # not over yet
    assert email_of(with_email.registration_id) == "anon@example.org"

    clock.moment = starts + timedelta(hours=3)
    assert node.privacy.drop_ended_contacts() == 1  # only the one that left an email
    assert email_of(with_email.registration_id) is None
    assert email_of(without.registration_id) is None
    assert node.privacy.drop_ended_contacts() == 0  # done once
    node.projections.catch_up()
    assert node.queries.anonymous_count(str(gathering_id)) == 2
