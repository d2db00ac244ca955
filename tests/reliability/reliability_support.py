"""Helpers shared by the reliability tests.

Not a ``conftest.py``: the test directories have no ``__init__.py``, so a second module named
``conftest`` would clash with ``tests/conftest.py`` under mypy. The project's own test helpers
(``test_settings`` and friends) live in ``tests/conftest.py``, which pytest has imported as the
module ``conftest``; they are reached through it here, typed.
"""

from __future__ import annotations

import importlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import httpx

from kunveno.bootstrap import Container, build
from kunveno.domain.base import DomainEvent
from kunveno.domain.community import Membership, Role, Visibility
from kunveno.domain.gathering import Gathering, GatheringDetails, JoinMode, RegistrationStatus
from kunveno.projections.base import Projection
from kunveno.projections.store import Writes
from kunveno.settings import Settings

Snapshot = dict[str, list[tuple[tuple[str, str], ...]]]


# -- the project's shared helpers (tests/conftest.py) -------------------------------------


def _shared() -> ModuleType:
    module = importlib.import_module("conftest")
    expected = Path(__file__).resolve().parent.parent / "conftest.py"
    assert Path(module.__file__ or "").resolve() == expected, module.__file__
    return module


def settings_for(database_url: str, **extra: object) -> Settings:
    """``test_settings`` of tests/conftest.py: cheap password hashing, the given database."""
    made = _shared().test_settings(database_url, **extra)
    assert isinstance(made, Settings)
    return made


def free_port() -> int:
    return int(_shared().free_port())


# -- building a log -----------------------------------------------------------------------


def details(
    title: str = "Repair café", *, anonymous: bool = True, days: int = 3
) -> GatheringDetails:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return GatheringDetails(
        title=title,
        description="Bring what is broken.",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="Europe/Amsterdam",
        location="Library, room 2",
        online_url=None,
        join_mode=JoinMode.FREE,
        anonymous_registration=anonymous,
    )


def register_people(node: Container, count: int, prefix: str = "p") -> list[UUID]:
    return [
        node.accounts.register(f"{prefix}{i:03d}", "s3cret-pass", None, None).value
        for i in range(count)
    ]


def public_gathering(node: Container, capacity: int | None) -> tuple[UUID, UUID]:
    """An organiser and a gathering of a public, open community: (organiser, gathering)."""
    organiser = node.accounts.register("organiser", "s3cret-pass", None, None).value
    node.communities.found(
        organiser,
        slug="menders",
        name="Menders",
        summary="",
        visibility=Visibility.PUBLIC,
        membership=Membership.OPEN,
    )
    gathering = node.gatherings.schedule(organiser, "menders", details(), capacity).value
    return organiser, gathering


def write_mixed_history(node: Container) -> None:
    """A few hundred events of most kinds, through the services, as a node would see them."""
    people = register_people(node, 18)
    owner, moderator, *others = people
    communities = {
        "open": (Visibility.PUBLIC, Membership.OPEN),
        "asking": (Visibility.PUBLIC, Membership.APPROVAL),
        "closed": (Visibility.PRIVATE, Membership.INVITE),
    }
    for slug, (visibility, membership) in communities.items():
        node.communities.found(
            owner,
            slug=slug,
            name=f"The {slug} ones",
            summary=f"A {visibility} community",
            visibility=visibility,
            membership=membership,
        )
    for person in others:
        node.communities.join(person, "open")
        node.communities.join(person, "asking")
    node.communities.join(moderator, "open")
    node.communities.change_role(owner, "open", moderator, Role.MODERATOR)
    for index, person in enumerate(others[:8]):
        if index % 3 == 0:
            node.communities.reject(owner, "asking", person)
        else:
            node.communities.approve(owner, "asking", person)
    for person in others[:4]:
        node.communities.invite(owner, "closed", person)
        node.communities.join(person, "closed")
    node.communities.leave(others[0], "open")
    node.communities.remove(owner, "open", others[1])
    node.communities.change_role(owner, "open", others[2], Role.ADMIN)

    gatherings = [
        node.gatherings.schedule(
            owner, "open", details(f"Gathering {i}", days=2 + i), 2 + i % 3
        ).value
        for i in range(5)
    ]
    registrations: list[UUID] = []
    for g_index, gathering in enumerate(gatherings):
        for person in others[2 + g_index % 2 :][:9]:
            registrations.append(
                node.gatherings.register_person(person, gathering).value.registration_id
            )
        for _ in range(2):
            node.gatherings.register_anonymous(gathering, "someone@example.org")
    for registration in registrations[::4]:
        node.gatherings.cancel_registration(registration, person_id=owner, cancel_token=None)
    node.gatherings.change_capacity(owner, gatherings[0], 9)
    node.gatherings.change_details(owner, gatherings[1], details("Renamed", days=3))
    node.gatherings.cancel(owner, gatherings[4])
    private = node.gatherings.schedule(owner, "closed", details("Members only"), None).value
    for person in others[:3]:
        node.gatherings.register_person(person, private)

    posts = [
        node.posts.publish(person, "open", f"hello from {person}", None).value
        for person in others[2:]
    ]
    for person, post in zip(others[2:6], posts, strict=False):
        node.posts.publish(person, "open", "a reply", post)
    for person, post in zip(others[2:5], posts, strict=False):
        node.posts.edit(person, post, "edited")
    node.posts.delete(owner, posts[-1])
    node.posts.delete(others[3], posts[1])
    node.accounts.sign_in("p005", "s3cret-pass")


# -- reading what was stored --------------------------------------------------------------


def read_model_tables(node: Container) -> list[str]:
    if node.database.kind == "postgres":
        sql = (
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema()"
        )
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return sorted(
        str(row["name"]) for row in node.read_store.query(sql) if row["name"].startswith("rm_")
    )


def snapshot(node: Container) -> Snapshot:
    """Every row of every ``rm_*`` table, as sorted text, so two states compare with ``==``."""
    tables: Snapshot = {}
    for table in read_model_tables(node):
        rows = node.read_store.query(f"SELECT * FROM {table}")
        tables[table] = sorted(
            tuple(sorted((str(column), repr(value)) for column, value in row.items()))
            for row in rows
        )
    return tables


def all_notifications(node: Container) -> list[Any]:
    found: list[Any] = []
    start = 1
    while True:
        page = node.log.recorder.select_notifications(start=start, limit=500)
        if not page:
            return found
        found.extend(page)
        start = page[-1].id + 1


def assert_log_well_formed(node: Container) -> list[Any]:
    """Notification ids strictly increase; no event is stored twice."""
    notifications = all_notifications(node)
    ids = [n.id for n in notifications]
    assert ids == sorted(set(ids)), "notification ids must strictly increase"
    keys = Counter((str(n.originator_id), n.originator_version) for n in notifications)
    twice = [key for key, count in keys.items() if count > 1]
    assert not twice, f"events stored twice: {twice}"
    assert node.projections.head() == (ids[-1] if ids else 0)
    return notifications


def domain_events(node: Container) -> list[Any]:
    return [node.log.mapper.to_domain_event(n) for n in all_notifications(node)]


def max_confirmed_over_history(node: Container, gathering_id: UUID) -> int:
    """Replay the gathering's stream version by version: the most seats ever taken at once."""

    def confirmed_at(version: int) -> int:
        gathering: object = node.log.repository.get(gathering_id, version=version)
        assert isinstance(gathering, Gathering)
        return gathering.confirmed_count

    latest = node.gatherings.load(gathering_id).version
    return max(confirmed_at(version) for version in range(1, latest + 1))


# -- a projection that shows how often each event was applied ----------------------------


class AppliedOnce(Projection):
    """One row per application of an event: a second application is a second row."""

    name = "applied_once"
    tables = ("rm_applied_once",)
    schema = (
        "CREATE TABLE IF NOT EXISTS rm_applied_once (originator_id TEXT NOT NULL, "
        "originator_version BIGINT NOT NULL)",
    )

    def apply(self, event: DomainEvent, writes: Writes) -> None:
        writes.append(
            "rm_applied_once",
            {
                "originator_id": str(event.originator_id),
                "originator_version": event.originator_version,
            },
        )


# -- a writer in its own OS process -------------------------------------------------------

RaceResult = tuple[str, str | None, str | None, str | None]


def register_in_own_process(
    settings: Settings,
    gathering_id: str,
    person_ids: Sequence[str],
    barrier: Barrier,
    results: Queue[RaceResult],
) -> None:
    """Build a whole node from the shared database; when every process is ready, register
    each of ``person_ids`` from its own thread, all at once.

    Runs under the 'spawn' start method, so it is a module-level function of an importable
    module; it reports (person, registration, status, error) per person.
    """
    node = build(settings)

    def register(person_id: str) -> None:
        try:
            done = node.gatherings.register_person(UUID(person_id), UUID(gathering_id)).value
        except Exception as error:  # reported to, and failed by, the test process
            results.put((person_id, None, None, repr(error)))
        else:
            results.put((person_id, str(done.registration_id), done.status.value, None))

    try:
        threads = [threading.Thread(target=register, args=(p,)) for p in person_ids]
        barrier.wait(timeout=60)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        node.close()


def collect(
    results: Queue[RaceResult], expected: int, workers: Sequence[BaseProcess]
) -> list[RaceResult]:
    """What the workers reported; stops early (and short) when they all died."""
    collected: list[RaceResult] = []
    deadline = time.monotonic() + 90
    while len(collected) < expected and time.monotonic() < deadline:
        try:
            collected.append(results.get(timeout=0.5))
        except queue.Empty:
            if not any(worker.is_alive() for worker in workers) and results.empty():
                break
    return collected


def statuses(results: Sequence[RaceResult]) -> Counter[str]:
    return Counter(status for _, _, status, _ in results if status is not None)


CONFIRMED = RegistrationStatus.CONFIRMED.value
WAITLISTED = RegistrationStatus.WAITLISTED.value


# -- a real `kunveno serve` process ---------------------------------------------------------


class ServerProcess:
    """``kunveno serve`` as its own OS process, on a loopback port, to be killed at will."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self._env = server_env(database_url)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> ServerProcess:
        command = [sys.executable, "-m", "kunveno.cli", "serve", "--port", str(self.port)]
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(f"the server exited at start:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/api/v1/communities", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the server did not start in {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or the OOM killer."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def output(self) -> str:
        return self._log_path.read_text(errors="replace")


def server_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUNVENO_")}
    env.update(
        KUNVENO_DATABASE_URL=database_url,
        KUNVENO_PASSWORD_TIME_COST="1",
        KUNVENO_PASSWORD_MEMORY_KIB="8",
    )
    return env


def kunveno(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kunveno.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
