"""Shared fixtures: every node-level test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``KUNVENO_TEST_DATABASE_URL`` (``./scripts/test`` starts a throwaway
cluster and sets it); each test gets a fresh database in it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from kunveno.adapters.http.app import create_app
from kunveno.bootstrap import Container, build
from kunveno.settings import Settings

PG_URL = os.environ.get("KUNVENO_TEST_DATABASE_URL")
CHROMIUM = "/usr/bin/chromium"  # Debian's; ./scripts/test installs it when it can


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, object]) -> dict[str, object]:
    """pytest-playwright launches Debian's chromium, headless; a missing browser skips the
    page tests outside CI and fails them in CI."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: run ./scripts/test as root to install it")
        pytest.skip(f"{CHROMIUM} is missing: ./scripts/test installs it (as root)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": ["--disable-gpu", "--disable-dev-shm-usage"],
    }


def fresh_postgres_database() -> str:
    assert PG_URL is not None
    name = f"kv_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(PG_URL, dbname=name)


def postgres_url_of(conninfo: str) -> str:
    """The conninfo as a URL (our settings take URLs)."""
    parts = conninfo_to_dict(conninfo)
    query = f"host={parts['host']}&port={parts.get('port', 5432)}"
    return f"postgresql://{parts.get('user', 'postgres')}@/{parts['dbname']}?{query}"


@pytest.fixture
def postgres_url() -> str:
    """A fresh PostgreSQL database. Outside ``./scripts/test`` (which always provides one) a
    bare ``pytest`` may run without PostgreSQL and skips these; under CI a missing one fails."""
    if PG_URL is None:
        if os.environ.get("CI"):
            pytest.fail("KUNVENO_TEST_DATABASE_URL is not set: run ./scripts/test")
        pytest.skip("KUNVENO_TEST_DATABASE_URL is not set: run ./scripts/test for PostgreSQL")
    return postgres_url_of(fresh_postgres_database())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kunveno.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def test_settings(database_url: str, **extra: object) -> Settings:
    return Settings(
        database_url=database_url,
        password_time_cost=1,
        password_memory_kib=8,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def node(database_url: str) -> Iterator[Container]:
    container = build(test_settings(database_url))
    yield container
    container.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A real uvicorn server on a loopback port, in a thread of the test process."""

    def __init__(self, container: Container, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(container), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def api(database_url: str) -> Iterator[httpx.Client]:
    """An HTTP client talking to a real server of a fresh node."""
    container = build(test_settings(database_url))
    try:
        with LiveServer(container) as server, httpx.Client(base_url=server.url) as client:
            client.headers["x-test-node"] = "1"
            yield client
    finally:
        container.close()
