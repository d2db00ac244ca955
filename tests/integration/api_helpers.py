"""Small helpers the API tests share: sign up, found a community, schedule, check errors.

A plain module (not a ``conftest.py``): a second ``conftest`` module would clash with
``tests/conftest.py`` for mypy, which sees both as the top-level module ``conftest``. pytest's
default import mode puts this directory on ``sys.path``, so tests import it by name.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn

from kunveno.adapters.http.app import create_app
from kunveno.bootstrap import Container

PASSWORD = "s3cret-pass"

Headers = dict[str, str]
Json = dict[str, Any]


@contextmanager
def serve(container: Container) -> Iterator[httpx.Client]:
    """A real uvicorn server for a node the test built itself, and a client to it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sign_up(api: httpx.Client, username: str, password: str = PASSWORD) -> Headers:
    """Create an account, sign in, and answer the bearer header for it."""
    created = api.post("/api/v1/accounts", json={"username": username, "password": password})
    assert created.status_code == 201, created.text
    assert created.json()["username"] == username.lower()
    headers = sign_in(api, username, password)
    seen = me(api, headers)
    assert (seen["id"], seen["username"]) == (created.json()["id"], username.lower())
    return headers


def sign_in(api: httpx.Client, username: str, password: str = PASSWORD) -> Headers:
    session = api.post("/api/v1/sessions", json={"username": username, "password": password})
    assert session.status_code == 200, session.text
    return {"Authorization": f"Bearer {session.json()['token']}"}


def me(api: httpx.Client, headers: Headers) -> Json:
    answer = api.get("/api/v1/me", headers=headers)
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    return body


def found(
    api: httpx.Client,
    headers: Headers,
    slug: str,
    *,
    visibility: str = "public",
    membership: str = "open",
) -> Json:
    answer = api.post(
        "/api/v1/communities",
        json={
            "slug": slug,
            "name": slug.title(),
            "visibility": visibility,
            "membership": membership,
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    body: Json = answer.json()
    assert (body["slug"], body["member_count"]) == (slug, 1)
    # Read-your-writes: the founder's next read finds it.
    assert community(api, slug, headers)["id"] == body["id"]
    return body


def community(api: httpx.Client, slug: str, headers: Headers | None = None) -> Json:
    answer = api.get(f"/api/v1/communities/{slug}", headers=headers)
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    return body


def directory_slugs(api: httpx.Client, headers: Headers | None = None) -> list[str]:
    answer = api.get("/api/v1/communities", headers=headers)
    assert answer.status_code == 200, answer.text
    return [c["slug"] for c in answer.json()]


def roles(api: httpx.Client, slug: str, headers: Headers | None = None) -> dict[str, str]:
    """username → role, as the members list shows it."""
    answer = api.get(f"/api/v1/communities/{slug}/members", headers=headers)
    assert answer.status_code == 200, answer.text
    return {m["username"]: m["role"] for m in answer.json()}


def join(api: httpx.Client, slug: str, headers: Headers) -> str:
    """Join (or ask to); the joiner's next read of the members list agrees with the answer."""
    answer = api.post(f"/api/v1/communities/{slug}/members", headers=headers)
    assert answer.status_code == 201, answer.text
    status: str = answer.json()["status"]
    members = api.get(f"/api/v1/communities/{slug}/members", headers=headers)
    if status == "member":
        assert me(api, headers)["id"] in {m["person_id"] for m in members.json()}
    else:
        assert status == "pending"
        # A pending requester is no member (and does not see a private community at all).
        assert members.status_code == 404 or me(api, headers)["id"] not in {
            m["person_id"] for m in members.json()
        }
    return status


def gathering_body(
    capacity: int | None = 2,
    *,
    in_days: float = 3,
    hours: float = 2,
    **extra: object,
) -> Json:
    start = datetime.now(UTC) + timedelta(days=in_days)
    return {
        "title": "Repair café",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=hours)).isoformat(),
        "timezone": "Europe/Amsterdam",
        "location": "Library, room 2",
        "capacity": capacity,
        "anonymous_registration": True,
        **extra,
    }


def schedule(api: httpx.Client, headers: Headers, slug: str, **body: Any) -> Json:
    capacity = body.pop("capacity", 2)
    answer = api.post(
        f"/api/v1/communities/{slug}/gatherings",
        json=gathering_body(capacity, **body),
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    created: Json = answer.json()
    assert created["status"] == "scheduled"
    seen = gathering(api, created["id"], headers)
    assert (seen["title"], seen["capacity"]) == (created["title"], capacity)
    return created


def gathering(api: httpx.Client, gid: str, headers: Headers | None = None) -> Json:
    answer = api.get(f"/api/v1/gatherings/{gid}", headers=headers)
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    return body


def gathering_titles(api: httpx.Client, slug: str, headers: Headers | None = None) -> list[str]:
    answer = api.get(f"/api/v1/communities/{slug}/gatherings", headers=headers)
    assert answer.status_code == 200, answer.text
    return [g["title"] for g in answer.json()]


def register(api: httpx.Client, gid: str, headers: Headers | None = None, **body: Any) -> Json:
    answer = api.post(f"/api/v1/gatherings/{gid}/registrations", headers=headers, json=body or None)
    assert answer.status_code == 201, answer.text
    created: Json = answer.json()
    if headers is not None:
        assert my_registrations(api, headers)[gid] == created["status"]
    return created


def my_registrations(api: httpx.Client, headers: Headers) -> dict[str, str]:
    """gathering id → status of the caller's registration for it."""
    answer = api.get("/api/v1/me/registrations", headers=headers)
    assert answer.status_code == 200, answer.text
    return {r["gathering_id"]: r["status"] for r in answer.json()}


def timeline(api: httpx.Client, slug: str, headers: Headers | None = None) -> list[Json]:
    answer = api.get(f"/api/v1/communities/{slug}/posts", headers=headers)
    assert answer.status_code == 200, answer.text
    posts: list[Json] = answer.json()
    return posts


def assert_error(answer: httpx.Response, status: int, code: str) -> str:
    """The answer is the contract's error body with this status and code; its detail."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == code, body
    detail = body["detail"]
    assert isinstance(detail, str)
    assert detail.strip(), body
    return detail
