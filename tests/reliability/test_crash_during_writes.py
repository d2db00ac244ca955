"""A server killed (SIGKILL) in the middle of a burst of registrations loses none it answered.

An acknowledgement (201 with an id) is only sent after the save committed, so after a restart
on the same database every acknowledged registration is in the log and, once the restarted
server's projections caught up, in the read model, with the status it was answered with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from reliability_support import (
    ServerProcess,
    assert_log_well_formed,
    domain_events,
    kunveno,
    server_env,
    settings_for,
)

from kunveno.bootstrap import Container, build
from kunveno.domain.registration import Registration
from kunveno.projections.views import ALL_VIEWS

ACKS_BEFORE_KILL = 30
WRITERS = 4


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Servers the test starts; whatever happens, none outlives it."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def set_up_gathering(url: str) -> tuple[dict[str, str], str]:
    """Through the API: an organiser, a public community, a gathering without capacity."""
    with httpx.Client(base_url=url, timeout=10) as api:
        account = {"username": "olga", "password": "s3cret-pass"}
        assert api.post("/api/v1/accounts", json=account).status_code == 201
        session = api.post("/api/v1/sessions", json=account)
        assert session.status_code == 200, session.text
        organiser = {"Authorization": f"Bearer {session.json()['token']}"}
        community = {"slug": "menders", "name": "Menders", "visibility": "public"}
        assert api.post("/api/v1/communities", json=community, headers=organiser).status_code == 201
        start = datetime.now(UTC) + timedelta(days=3)
        gathering = api.post(
            "/api/v1/communities/menders/gatherings",
            json={
                "title": "Repair café",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=2)).isoformat(),
                "timezone": "Europe/Amsterdam",
                "capacity": None,
                "anonymous_registration": True,
            },
            headers=organiser,
        )
        assert gathering.status_code == 201, gathering.text
        return organiser, str(gathering.json()["id"])


class Burst:
    """Threads registering anonymously as fast as they can, keeping every acknowledgement."""

    def __init__(self, url: str, gathering_id: str) -> None:
        self.acknowledged: dict[str, str] = {}
        self.unexpected: list[str] = []
        self.cut_off = 0  # writers whose request the kill interrupted
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._path = f"/api/v1/gatherings/{gathering_id}/registrations"
        self._threads = [
            threading.Thread(target=self._register, args=(url,)) for _ in range(WRITERS)
        ]

    def __enter__(self) -> Burst:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _register(self, url: str) -> None:
        with httpx.Client(base_url=url, timeout=10) as api:
            while not self._stop.is_set():
                try:
                    answer = api.post(self._path, json={"email": "burst@example.org"})
                except httpx.TransportError:
                    # The server is gone: what was not acknowledged may or may not be saved.
                    with self._lock:
                        self.cut_off += 1
                    return
                with self._lock:
                    if answer.status_code == 201:
                        self.acknowledged[answer.json()["id"]] = answer.json()["status"]
                    else:
                        self.unexpected.append(f"{answer.status_code} {answer.text}")

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)


def wait_for_no_lag(node: Container, timeout: float = 30) -> None:
    """The restarted server folds in the background; this node only watches."""
    deadline = time.monotonic() + timeout
    while any(status.lag for status in node.projections.status()):
        assert time.monotonic() < deadline, node.projections.status()
        time.sleep(0.05)


@pytest.mark.slow
def test_no_acknowledged_registration_is_lost_to_a_kill(
    database_url: str, servers: list[ServerProcess], tmp_path: Path
) -> None:
    first = ServerProcess(database_url, tmp_path / "first.log")
    servers.append(first)
    first.start()
    organiser, gathering_id = set_up_gathering(first.url)

    with Burst(first.url, gathering_id) as burst:
        deadline = time.monotonic() + 30
        while burst.count() < ACKS_BEFORE_KILL:
            assert time.monotonic() < deadline, f"too few acknowledged: {burst.unexpected}"
            time.sleep(0.005)
        first.kill()
    acknowledged = burst.acknowledged
    assert burst.unexpected == []
    assert burst.cut_off >= 1, "the kill came after the burst, not in it"
    assert len(acknowledged) >= ACKS_BEFORE_KILL
    assert set(acknowledged.values()) == {"confirmed"}  # no capacity: everyone has a seat

    second = ServerProcess(database_url, tmp_path / "second.log")
    servers.append(second)
    second.start()
    node = build(settings_for(database_url))
    try:
        wait_for_no_lag(node)

        # The log: every acknowledged registration is there, with its status.
        in_log = node.gatherings.load(UUID(gathering_id)).registrations
        assert {rid: in_log.get(rid) for rid in acknowledged} == acknowledged
        submitted = {
            str(e.originator_id)
            for e in domain_events(node)
            if isinstance(e, Registration.Submitted) and str(e.gathering_id) == gathering_id
        }
        assert submitted == set(in_log)  # a registration and its seat were saved together
        assert_log_well_formed(node)

        # The read model, as this node reads it...
        for registration_id, status in acknowledged.items():
            row = node.queries.registration(registration_id)
            assert row is not None, registration_id
            assert (row["status"], row["kind"]) == (status, "anonymous")
        gathering = node.queries.gathering(gathering_id)
        assert gathering is not None
        assert gathering["registration_count"] == len(in_log)

        # ...and as the restarted server answers.
        with httpx.Client(base_url=second.url, timeout=10) as api:
            seen = api.get(f"/api/v1/gatherings/{gathering_id}").json()
            assert seen["registration_count"] == len(in_log)
            listed = api.get(f"/api/v1/gatherings/{gathering_id}/registrations", headers=organiser)
            assert listed.status_code == 200, listed.text
            assert listed.json()["anonymous_count"] == len(in_log)
            again = api.post(f"/api/v1/gatherings/{gathering_id}/registrations", json={})
            assert again.status_code == 201, again.text
    finally:
        node.close()

    shown = kunveno(server_env(database_url), "projections", "status")
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()[1:]]
    assert len(rows) == len(ALL_VIEWS)
    assert all(int(lag) == 0 and int(position) == int(head) for _, position, head, lag in rows)
