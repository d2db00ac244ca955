"""Bad input gets the right status and error body, and stores nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from api_helpers import (
    PASSWORD,
    assert_error,
    community,
    directory_slugs,
    found,
    gathering,
    gathering_body,
    gathering_titles,
    join,
    me,
    my_registrations,
    register,
    schedule,
    serve,
    sign_in,
    sign_up,
)

from kunveno.bootstrap import build
from kunveno.settings import Settings

JSON = {"content-type": "application/json"}


def cannot_sign_in(api: httpx.Client, username: str, password: str = PASSWORD) -> None:
    answer = api.post("/api/v1/sessions", json={"username": username, "password": password})
    assert_error(answer, 401, "unauthenticated")


# -- malformed bodies ------------------------------------------------------------------------


def test_malformed_json_is_400_and_stores_nothing(api: httpx.Client) -> None:
    answer = api.post(
        "/api/v1/accounts", content=b'{"username": "ana", "password": "s3cret-pa', headers=JSON
    )
    assert_error(answer, 400, "malformed_json")
    cannot_sign_in(api, "ana")

    olga = sign_up(api, "olga")
    answer = api.post(
        "/api/v1/communities",
        content=b'{"slug": "menders", "name": "Menders",}',
        headers={**olga, **JSON},
    )
    assert_error(answer, 400, "malformed_json")
    assert directory_slugs(api, olga) == []
    assert_error(api.get("/api/v1/communities/menders", headers=olga), 404, "not_found")


def test_wrong_types_are_422_and_store_nothing(api: httpx.Client) -> None:
    answer = api.post("/api/v1/accounts", json={"username": 42, "password": ["s3cret-pass"]})
    detail = assert_error(answer, 422, "invalid_request")
    assert "username" in detail
    assert "password" in detail
    cannot_sign_in(api, "42")

    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    wrong: list[dict[str, Any]] = [
        {"capacity": "lots"},
        {"anonymous_registration": "maybe"},
        {"starts_at": "next tuesday"},
        {"title": ["Repair café"]},
        {"join_mode": "first-come"},
    ]
    for change in wrong:
        answer = api.post(
            "/api/v1/communities/menders/gatherings",
            json={**gathering_body(), **change},
            headers=olga,
        )
        detail = assert_error(answer, 422, "invalid_request")
        assert next(iter(change)) in detail
    assert gathering_titles(api, "menders", olga) == []


def test_unknown_fields_are_422_and_store_nothing(api: httpx.Client) -> None:
    answer = api.post(
        "/api/v1/accounts",
        json={"username": "ana", "password": PASSWORD, "is_admin": True},
    )
    detail = assert_error(answer, 422, "invalid_request")
    assert "is_admin" in detail
    cannot_sign_in(api, "ana")

    olga = sign_up(api, "olga")
    answer = api.post(
        "/api/v1/communities",
        json={"slug": "menders", "name": "Menders", "owner": "ana"},
        headers=olga,
    )
    assert "owner" in assert_error(answer, 422, "invalid_request")
    assert directory_slugs(api, olga) == []

    found(api, olga, "menders")
    answer = api.post(
        "/api/v1/communities/menders/gatherings",
        json=gathering_body(price_eur=5),
        headers=olga,
    )
    assert "price_eur" in assert_error(answer, 422, "invalid_request")
    assert gathering_titles(api, "menders", olga) == []


def test_a_datetime_without_offset_is_refused(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    body = gathering_body()
    body["starts_at"] = "2031-05-01T18:00:00"
    answer = api.post("/api/v1/communities/menders/gatherings", json=body, headers=olga)
    assert "starts_at" in assert_error(answer, 422, "invalid_request")
    assert gathering_titles(api, "menders", olga) == []


# -- gathering values ------------------------------------------------------------------------


def test_an_end_before_the_start_is_422_invalid_value(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    body = gathering_body()
    body["starts_at"], body["ends_at"] = body["ends_at"], body["starts_at"]
    answer = api.post("/api/v1/communities/menders/gatherings", json=body, headers=olga)
    assert_error(answer, 422, "invalid_value")

    body = gathering_body()
    body["ends_at"] = body["starts_at"]
    answer = api.post("/api/v1/communities/menders/gatherings", json=body, headers=olga)
    assert_error(answer, 422, "invalid_value")
    assert gathering_titles(api, "menders", olga) == []


def test_capacity_must_not_be_negative(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    answer = api.post(
        "/api/v1/communities/menders/gatherings", json=gathering_body(-1), headers=olga
    )
    assert "capacity" in assert_error(answer, 422, "invalid_request")
    assert gathering_titles(api, "menders", olga) == []
    # Zero is a valid capacity (everyone waitlisted), so the bound is exactly at zero.
    assert schedule(api, olga, "menders", capacity=0)["remaining_capacity"] == 0


def test_a_title_has_at_most_200_characters(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    answer = api.post(
        "/api/v1/communities/menders/gatherings",
        json=gathering_body(title="x" * 201),
        headers=olga,
    )
    assert "title" in assert_error(answer, 422, "invalid_request")
    blank = api.post(
        "/api/v1/communities/menders/gatherings", json=gathering_body(title="   "), headers=olga
    )
    assert_error(blank, 422, "invalid_value")
    assert gathering_titles(api, "menders", olga) == []
    assert schedule(api, olga, "menders", title="y" * 200)["title"] == "y" * 200
    assert gathering_titles(api, "menders", olga) == ["y" * 200]


def test_an_unknown_timezone_is_422(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    for zone in ("Mars/Olympus_Mons", "../../etc/passwd", "Europe/amsterdam ", "Europe"):
        answer = api.post(
            "/api/v1/communities/menders/gatherings",
            json=gathering_body(timezone=zone),
            headers=olga,
        )
        assert_error(answer, 422, "invalid_value")
    assert gathering_titles(api, "menders", olga) == []


def test_a_slug_with_bad_characters_is_422(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    for slug in ("bad slug", "menders!", "-menders", "menders-", "mënders", "a/b"):
        answer = api.post(
            "/api/v1/communities", json={"slug": slug, "name": "Menders"}, headers=olga
        )
        assert_error(answer, 422, "invalid_value")
    assert directory_slugs(api, olga) == []
    assert found(api, olga, "repair_cafe-2")["slug"] == "repair_cafe-2"
    assert directory_slugs(api, olga) == ["repair_cafe-2"]


def test_a_taken_slug_is_409_whatever_the_case(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    first = found(api, olga, "menders")
    bea = sign_up(api, "bea")
    answer = api.post("/api/v1/communities", json={"slug": "Menders", "name": "Other"}, headers=bea)
    assert_error(answer, 409, "name_taken")
    kept = community(api, "menders", bea)
    assert (kept["id"], kept["name"], kept["member_count"]) == (first["id"], "Menders", 1)


# -- accounts and tokens ---------------------------------------------------------------------


def test_a_taken_username_is_409_also_when_only_the_case_differs(api: httpx.Client) -> None:
    original = sign_up(api, "olga")
    olga_id = me(api, original)["id"]
    for name in ("olga", "OLGA", "Olga"):
        answer = api.post("/api/v1/accounts", json={"username": name, "password": "another-pass"})
        assert_error(answer, 409, "name_taken")
    # Nothing changed: the first account keeps its password, the second never existed.
    cannot_sign_in(api, "olga", "another-pass")
    assert me(api, sign_in(api, "OLGA"))["id"] == olga_id


def test_a_bad_username_is_422(api: httpx.Client) -> None:
    for name in ("olga smith", "olga@example", "ölga", ""):
        answer = api.post("/api/v1/accounts", json={"username": name, "password": PASSWORD})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] in {"invalid_value", "invalid_request"}
    answer = api.post("/api/v1/accounts", json={"username": "olga", "password": "short"})
    assert "password" in assert_error(answer, 422, "invalid_request")
    cannot_sign_in(api, "olga", "short")


def test_a_wrong_password_is_401_and_reveals_nothing(api: httpx.Client) -> None:
    sign_up(api, "olga")
    wrong = api.post("/api/v1/sessions", json={"username": "olga", "password": "not-the-one"})
    unknown = api.post("/api/v1/sessions", json={"username": "nobody", "password": PASSWORD})
    assert assert_error(wrong, 401, "unauthenticated") == assert_error(
        unknown, 401, "unauthenticated"
    )
    assert wrong.headers["www-authenticate"] == "Bearer"


def test_a_missing_token_is_401_and_stores_nothing(api: httpx.Client) -> None:
    answer = api.get("/api/v1/me")
    assert_error(answer, 401, "unauthenticated")
    assert answer.headers["www-authenticate"] == "Bearer"
    answer = api.post("/api/v1/communities", json={"slug": "menders", "name": "Menders"})
    assert_error(answer, 401, "unauthenticated")
    assert directory_slugs(api) == []
    # A scheme other than Bearer is no token at all.
    basic = api.get("/api/v1/me", headers={"Authorization": "Basic b2xnYTpzM2NyZXQ="})
    assert_error(basic, 401, "unauthenticated")


def test_a_garbage_token_is_401_and_stores_nothing(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    garbage = {"Authorization": "Bearer not-a-real-token"}
    assert_error(api.get("/api/v1/me", headers=garbage), 401, "unauthenticated")
    answer = api.post(
        "/api/v1/communities", json={"slug": "menders", "name": "Menders"}, headers=garbage
    )
    assert_error(answer, 401, "unauthenticated")
    assert directory_slugs(api, olga) == []


def test_a_signed_out_token_is_401(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    spare = sign_in(api, "olga")
    assert api.delete("/api/v1/sessions/current", headers=olga).status_code == 204
    assert_error(api.get("/api/v1/me", headers=olga), 401, "unauthenticated")
    assert me(api, spare)["username"] == "olga"


class SteppingClock:
    """A clock the test moves forward by hand."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> None:
        with self._lock:
            self._now += by


def test_an_expired_token_is_401_and_signing_in_again_works(database_url: str) -> None:
    clock = SteppingClock()
    settings = Settings(
        database_url=database_url,
        password_time_cost=1,
        password_memory_kib=8,
        token_ttl_days=30,
    )
    node = build(settings, clock=clock)
    try:
        with serve(node) as api:
            olga = sign_up(api, "olga")
            clock.advance(timedelta(days=29, hours=23))
            assert me(api, olga)["username"] == "olga"
            clock.advance(timedelta(hours=1))
            detail = assert_error(api.get("/api/v1/me", headers=olga), 401, "unauthenticated")
            assert "expired" in detail
            answer = api.post(
                "/api/v1/communities", json={"slug": "menders", "name": "Menders"}, headers=olga
            )
            assert_error(answer, 401, "unauthenticated")
            fresh = sign_in(api, "olga")
            assert me(api, fresh)["username"] == "olga"
            assert directory_slugs(api, fresh) == []
    finally:
        node.close()


# -- addressing ------------------------------------------------------------------------------


def test_a_gathering_that_does_not_exist_is_404(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    missing = "00000000-0000-4000-8000-000000000000"
    assert_error(api.get(f"/api/v1/gatherings/{missing}"), 404, "not_found")
    answer = api.post(f"/api/v1/gatherings/{missing}/registrations", headers=olga)
    assert_error(answer, 404, "not_found")
    assert_error(api.post(f"/api/v1/gatherings/{missing}/cancel", headers=olga), 404, "not_found")
    assert my_registrations(api, olga) == {}
    assert_error(api.get("/api/v1/communities/nowhere/gatherings", headers=olga), 404, "not_found")


def test_a_non_uuid_id_is_422(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    assert "gathering_id" in assert_error(
        api.get("/api/v1/gatherings/not-a-uuid"), 422, "invalid_request"
    )
    answer = api.post("/api/v1/gatherings/42/registrations", headers=olga)
    assert_error(answer, 422, "invalid_request")
    assert_error(api.delete("/api/v1/registrations/xyz", headers=olga), 422, "invalid_request")
    assert my_registrations(api, olga) == {}


def test_an_unknown_route_is_a_json_404(api: httpx.Client) -> None:
    for path in ("/api/v1/nothing-here", "/nothing-here", "/api/v2/communities"):
        assert_error(api.get(path), 404, "not_found")
    assert_error(api.put("/api/v1/communities"), 405, "method_not_allowed")


# -- registrations ---------------------------------------------------------------------------


def test_anonymous_registration_when_not_allowed_is_403(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    gid = schedule(api, olga, "menders", anonymous_registration=False)["id"]
    answer = api.post(f"/api/v1/gatherings/{gid}/registrations", json={"email": "a@b.org"})
    assert_error(answer, 403, "anonymous_registration_not_allowed")
    seen = gathering(api, gid)
    assert (seen["registration_count"], seen["waitlist_count"], seen["pending_count"]) == (0, 0, 0)
    view = api.get(f"/api/v1/gatherings/{gid}/registrations", headers=olga).json()
    assert view == {"participants": [], "anonymous_count": 0}


def test_registering_twice_is_409(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    gid = schedule(api, olga, "menders", capacity=5)["id"]
    bea = sign_up(api, "bea")
    first = register(api, gid, bea)
    answer = api.post(f"/api/v1/gatherings/{gid}/registrations", headers=bea)
    assert_error(answer, 409, "already_registered")
    assert gathering(api, gid, bea)["registration_count"] == 1
    assert my_registrations(api, bea) == {gid: "confirmed"}
    view = api.get(f"/api/v1/gatherings/{gid}/registrations", headers=olga).json()
    assert [p["id"] for p in view["participants"]] == [first["id"]]


def test_registering_for_a_cancelled_gathering_is_409(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    gid = schedule(api, olga, "menders")["id"]
    assert api.post(f"/api/v1/gatherings/{gid}/cancel", headers=olga).status_code == 200
    assert gathering(api, gid, olga)["status"] == "cancelled"
    bea = sign_up(api, "bea")
    answer = api.post(f"/api/v1/gatherings/{gid}/registrations", headers=bea)
    assert_error(answer, 409, "gathering_cancelled")
    anonymous = api.post(f"/api/v1/gatherings/{gid}/registrations", json={})
    assert_error(anonymous, 409, "gathering_cancelled")
    assert my_registrations(api, bea) == {}
    seen = gathering(api, gid, bea)
    assert (seen["status"], seen["registration_count"]) == ("cancelled", 0)


def test_registering_for_a_gathering_that_is_over_is_409(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    gid = schedule(api, olga, "menders", in_days=-1)["id"]
    bea = sign_up(api, "bea")
    answer = api.post(f"/api/v1/gatherings/{gid}/registrations", headers=bea)
    assert_error(answer, 409, "gathering_over")
    assert my_registrations(api, bea) == {}


def test_only_an_organiser_cancels_a_gathering(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    gid = schedule(api, olga, "menders")["id"]
    bea = sign_up(api, "bea")
    assert_error(api.post(f"/api/v1/gatherings/{gid}/cancel", headers=bea), 403, "forbidden")
    assert join(api, "menders", bea) == "member"
    assert_error(api.post(f"/api/v1/gatherings/{gid}/cancel", headers=bea), 403, "forbidden")
    assert_error(api.post(f"/api/v1/gatherings/{gid}/cancel"), 401, "unauthenticated")
    assert gathering(api, gid, bea)["status"] == "scheduled"
    assert register(api, gid, bea)["status"] == "confirmed"


def test_only_an_organiser_reads_the_registrations_list(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    gid = schedule(api, olga, "menders")["id"]
    bea = sign_up(api, "bea")
    register(api, gid, bea)
    path = f"/api/v1/gatherings/{gid}/registrations"
    assert_error(api.get(path, headers=bea), 403, "forbidden")
    assert join(api, "menders", bea) == "member"
    assert_error(api.get(path, headers=bea), 403, "forbidden")
    assert_error(api.get(path), 401, "unauthenticated")
    view = api.get(path, headers=olga).json()
    assert [(p["username"], p["status"]) for p in view["participants"]] == [("bea", "confirmed")]
