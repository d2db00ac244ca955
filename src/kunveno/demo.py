"""A small demo community with a gathering, for a first look at an empty node."""

from __future__ import annotations

import secrets
from datetime import timedelta
from zoneinfo import ZoneInfo

from kunveno.bootstrap import Container
from kunveno.domain.community import Membership, Visibility
from kunveno.domain.gathering import GatheringDetails, JoinMode


def seed_demo(node: Container) -> str | None:
    """Seed when the log is empty; return the demo password, or None if nothing was done."""
    if node.projections.head() > 0:
        return None
    password = secrets.token_urlsafe(12)
    organiser = node.accounts.register("demo", password, "Demo Organiser", None).value
    node.communities.found(
        organiser,
        slug="neighbours",
        name="Friendly Neighbours",
        summary="A demo community: the street's picnics, repair cafés and walks.",
        visibility=Visibility.PUBLIC,
        membership=Membership.OPEN,
    )
    local = (node.clock.now() + timedelta(days=7)).astimezone(ZoneInfo("Europe/Berlin"))
    start = local.replace(hour=10, minute=0, second=0, microsecond=0)  # 10:00 in Berlin
    details = GatheringDetails(
        title="Picnic in the park",
        description="Bring something to share. Blankets welcome.",
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        timezone="Europe/Berlin",
        location="Volkspark, by the pond",
        online_url=None,
        join_mode=JoinMode.FREE,
        anonymous_registration=True,
    )
    outcome = node.gatherings.schedule(organiser, "neighbours", details, capacity=20)
    node.projections.catch_up()
    node.read_your_writes(outcome.position)
    return password
