"""The core flow through the real HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from icalendar import Calendar


def sign_up(api: httpx.Client, username: str) -> dict[str, str]:
    created = api.post("/api/v1/accounts", json={"username": username, "password": "s3cret-pass"})
    assert created.status_code == 201, created.text
    session = api.post("/api/v1/sessions", json={"username": username, "password": "s3cret-pass"})
    assert session.status_code == 200, session.text
    return {"Authorization": f"Bearer {session.json()['token']}"}


def new_gathering(capacity: int | None = 2, **extra: object) -> dict[str, object]:
    start = datetime.now(UTC) + timedelta(days=3)
    return {
        "title": "Repair café",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        "timezone": "Europe/Amsterdam",
        "location": "Library, room 2",
        "capacity": capacity,
        "anonymous_registration": True,
        **extra,
    }


def test_organiser_fills_a_gathering_and_the_waitlist_moves_up(api: httpx.Client) -> None:
    organiser = sign_up(api, "olga")
    community = api.post(
        "/api/v1/communities",
        json={"slug": "menders", "name": "Menders", "visibility": "public"},
        headers=organiser,
    )
    assert community.status_code == 201, community.text
    assert community.json()["member_count"] == 1

    gathering = api.post(
        "/api/v1/communities/menders/gatherings", json=new_gathering(2), headers=organiser
    )
    assert gathering.status_code == 201, gathering.text
    gid = gathering.json()["id"]
    assert gathering.json()["remaining_capacity"] == 2

    anonymous = api.post(f"/api/v1/gatherings/{gid}/registrations", json={"email": "a@b.org"})
    assert anonymous.status_code == 201, anonymous.text
    assert anonymous.json()["status"] == "confirmed"
    assert anonymous.json()["cancel_token"]

    bea = sign_up(api, "bea")
    assert api.post(f"/api/v1/gatherings/{gid}/registrations", headers=bea).json()["status"] == (
        "confirmed"
    )
    cai = sign_up(api, "cai")
    waitlisted = api.post(f"/api/v1/gatherings/{gid}/registrations", headers=cai)
    assert waitlisted.json()["status"] == "waitlisted"

    # Read-your-writes: the writer's next read sees the counts at once.
    seen = api.get(f"/api/v1/gatherings/{gid}").json()
    assert (seen["registration_count"], seen["remaining_capacity"]) == (2, 0)
    assert seen["waitlist_count"] == 1

    view = api.get(f"/api/v1/gatherings/{gid}/registrations", headers=organiser).json()
    assert view["anonymous_count"] == 1
    assert sorted(p["username"] for p in view["participants"]) == ["bea", "cai"]
    assert "a@b.org" not in str(view)

    token = anonymous.json()["cancel_token"]
    cancelled = api.delete(
        f"/api/v1/registrations/{anonymous.json()['id']}", params={"cancel_token": token}
    )
    assert cancelled.status_code == 204, cancelled.text
    mine = api.get("/api/v1/me/registrations", headers=cai).json()
    assert [r["status"] for r in mine] == ["confirmed"]

    calendar = api.get("/communities/menders/calendar.ics")
    assert calendar.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(calendar.content).walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["Repair café"]


def test_a_wrong_cancel_token_cancels_nothing(api: httpx.Client) -> None:
    organiser = sign_up(api, "olga")
    api.post("/api/v1/communities", json={"slug": "c", "name": "C"}, headers=organiser)
    gid = api.post(
        "/api/v1/communities/c/gatherings", json=new_gathering(1), headers=organiser
    ).json()["id"]
    registration = api.post(f"/api/v1/gatherings/{gid}/registrations", json={}).json()
    refused = api.delete(
        f"/api/v1/registrations/{registration['id']}", params={"cancel_token": "guess"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert api.get(f"/api/v1/gatherings/{gid}").json()["registration_count"] == 1
