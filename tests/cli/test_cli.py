"""The ``kunveno`` command, run as a user runs it: a subprocess, configured by KUNVENO_*.

Exit codes: 0 success, 2 bad usage, 1 failure with a one-line ``error: ...`` on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from conftest import free_port
from kunveno.bootstrap import build
from kunveno.settings import Settings

pytestmark = pytest.mark.slow  # every test here starts interpreters

VIEWS = {
    "agents",
    "notices",
    "trail",
    "imported_posts",
    "reports",
    "outgoing",
    "remote_gatherings",
    "reactions",
    "people",
    "communities",
    "members",
    "gatherings",
    "registrations",
    "followers",
    "blocks",
    "posts",
    "personal_index",
}

# Every command, and the purpose its --help must state.
COMMANDS: dict[tuple[str, ...], str] = {
    (): "a federated, event-sourced server for communities and gatherings",
    ("serve",): "serve the web API",
    ("db",): "set up the database",
    ("db", "init"): "create the event store and read-model tables",
    ("projections",): "inspect and rebuild read models",
    ("projections", "status"): "each projection's position and lag",
    ("projections", "rebuild"): "derive read models again from the log",
    ("federation",): "ActivityPub workers and deliveries",
    ("federation", "status"): "inbox and outbox positions, and deliveries by state",
    ("admin",): "administration",
    ("admin", "create-user"): "create a local account",
    ("admin", "block"): "drop a domain's or an actor's activities",
    ("admin", "unblock"): "lift a block",
    ("admin", "blocks"): "list the blocked domains and actors",
    ("admin", "erase"): "erase a person: their personal data, for good",
    ("admin", "reports"): "list reports (Flag) received from other servers",
    ("export",): "export everything a person did, as a zip",
    ("demo",): "demo data",
    ("demo", "seed"): "seed a demo community when the store is empty",
}


def cli_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUNVENO_")}
    env.update(
        KUNVENO_DATA_DIR=str(data_dir),
        KUNVENO_PASSWORD_TIME_COST="1",
        KUNVENO_PASSWORD_MEMORY_KIB="8",
    )
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kunveno.cli", *args]


def kunveno(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run it; output decoded as is (text mode would turn progress's "\r" into newlines)."""
    done = subprocess.run(
        command(*args),
        env=cli_env(data_dir),
        input=stdin.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def node_settings(data_dir: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{(data_dir / 'kunveno.sqlite3').resolve()}",
        password_time_cost=1,
        password_memory_kib=8,
    )


def add_activity(data_dir: Path) -> None:
    """People registering for the demo gathering and posting, folded as a server would."""
    node = build(node_settings(data_dir))
    try:
        gathering = UUID(node.read_store.query("SELECT id FROM rm_gatherings")[0]["id"])
        for name in ("alice", "bea", "cai"):
            person = node.accounts.register(name, "s3cret-pass", None, None).value
            node.communities.join(person, "neighbours")
            node.gatherings.register_person(person, gathering)
            node.posts.publish(person, "neighbours", f"{name} says hello", None)
        node.gatherings.register_anonymous(gathering, None)
        node.projections.catch_up()
    finally:
        node.close()


def read_models(data_dir: Path) -> dict[str, list[tuple[tuple[str, str], ...]]]:
    """Every row of every read-model table of the node in ``data_dir``, comparable with ==."""
    node = build(node_settings(data_dir))
    try:
        names = node.read_store.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = sorted(str(r["name"]) for r in names if str(r["name"]).startswith("rm_"))
        return {
            table: sorted(
                tuple(sorted((k, repr(v)) for k, v in row.items()))
                for row in node.read_store.query(f"SELECT * FROM {table}")
            )
            for table in tables
        }
    finally:
        node.close()


def status_rows(data_dir: Path) -> dict[str, tuple[int, int, int]]:
    status = kunveno(data_dir, "projections", "status")
    assert status.returncode == 0, status.stderr
    header, *lines = status.stdout.splitlines()
    assert header.split() == ["projection", "position", "head", "lag"]
    rows = {}
    for line in lines:
        name, position, head, lag = line.split()
        rows[name] = (int(position), int(head), int(lag))
    return rows


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A data directory with an initialised store and the demo seeded."""
    assert kunveno(tmp_path, "db", "init").returncode == 0
    seeded = kunveno(tmp_path, "demo", "seed")
    assert seeded.returncode == 0, seeded.stderr
    return tmp_path


def test_every_command_has_help_that_states_its_purpose(tmp_path: Path) -> None:
    # All at once: each is a whole interpreter start.
    running = {
        args: subprocess.Popen(
            command(*args, "--help"),
            env=cli_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in COMMANDS
    }
    problems = []
    for args, process in running.items():
        out, err = process.communicate(timeout=60)
        text = " ".join(out.split())  # argparse wraps lines
        name = " ".join(("kunveno", *args))
        if process.returncode != 0:
            problems.append(f"{name} --help exited {process.returncode}: {err}")
        elif not text.startswith(f"usage: {name}"):
            problems.append(f"{name} --help shows another usage: {out}")
        elif COMMANDS[args] not in text:
            problems.append(f"{name} --help does not say {COMMANDS[args]!r}:\n{out}")
    assert problems == [], "\n".join(problems)
    assert not (tmp_path / "kunveno.sqlite3").exists(), "--help must not touch the store"


@pytest.mark.parametrize("args", [("frobnicate",), (), ("projections",), ("db", "drop")])
def test_bad_usage_exits_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = kunveno(tmp_path, *args)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert "usage: kunveno" in result.stderr


def test_init_then_the_demo_is_seeded_once(tmp_path: Path) -> None:
    init = kunveno(tmp_path, "db", "init")
    assert init.returncode == 0, init.stderr
    assert init.stdout.startswith("database ready: sqlite")
    assert (tmp_path / "kunveno.sqlite3").exists()

    first = kunveno(tmp_path, "demo", "seed")
    assert first.returncode == 0, first.stderr
    assert "seeded the demo community 'neighbours'; sign in as demo / " in first.stdout
    rows = read_models(tmp_path)
    assert [r for r in rows["rm_communities"] if ("slug", "'neighbours'") in r]
    assert len(rows["rm_gatherings"]) == 1

    second = kunveno(tmp_path, "demo", "seed")
    assert second.returncode == 0, second.stderr
    assert "not empty" in second.stdout
    assert read_models(tmp_path) == rows


def test_create_user_then_a_duplicate_is_a_one_line_error(tmp_path: Path) -> None:
    created = kunveno(
        tmp_path, "admin", "create-user", "alice", "--password-stdin", stdin="s3cret-pass\n"
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created alice (")

    again = kunveno(
        tmp_path, "admin", "create-user", "alice", "--password-stdin", stdin="other-pass\n"
    )
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.startswith("error: ")
    assert again.stderr.count("\n") == 1, again.stderr
    assert again.stderr.endswith("\n")
    assert "alice" in again.stderr
    assert "Traceback" not in again.stderr

    short = kunveno(tmp_path, "admin", "create-user", "bob", "--password-stdin", stdin="x\n")
    assert short.returncode == 1
    assert short.stderr.startswith("error: a password has ")
    assert short.stderr.count("\n") == 1, short.stderr


def test_status_lists_every_projection_caught_up(seeded: Path) -> None:
    rows = status_rows(seeded)
    assert set(rows) == VIEWS
    heads = {head for _, head, _ in rows.values()}
    assert len(heads) == 1
    assert heads.pop() > 0
    assert all(lag == 0 and position == head for position, head, lag in rows.values())


def test_rebuild_shows_progress_and_changes_no_read_model(seeded: Path) -> None:
    add_activity(seeded)
    before = read_models(seeded)
    assert all(before[table] for table in ("rm_people", "rm_registrations", "rm_posts"))

    rebuilt = kunveno(seeded, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    head = next(iter(status_rows(seeded).values()))[1]
    # One line, rewritten in place ("\r"), ending once at the head; then the time taken.
    lines = [line.split("\r")[-1] for line in rebuilt.stderr.split("\n") if line]
    assert [" ".join(line.split()) for line in lines[:-1]] == [
        f"projections {head}/{head} events (100%)"
    ]
    assert lines[-1].startswith("rebuilt in ")
    assert read_models(seeded) == before

    one = kunveno(seeded, "projections", "rebuild", "registrations")
    assert one.returncode == 0, one.stderr
    assert read_models(seeded) == before
    assert all(lag == 0 for *_, lag in status_rows(seeded).values())


def test_rebuilding_an_unknown_projection_fails_and_names_the_known_ones(seeded: Path) -> None:
    result = kunveno(seeded, "projections", "rebuild", "nope")
    assert result.returncode == 1
    assert result.stderr.startswith("error: unknown projection 'nope'")
    assert result.stderr.count("\n") == 1
    assert all(name in result.stderr for name in VIEWS)


def test_blocks_are_added_listed_and_lifted(tmp_path: Path) -> None:
    blocked = kunveno(tmp_path, "admin", "block", "domain", "Spam.Example", "--reason", "spam")
    assert blocked.returncode == 0, blocked.stderr
    assert "blocked domain spam.example" in blocked.stdout
    again = kunveno(tmp_path, "admin", "block", "domain", "spam.example")
    assert "already blocked" in again.stdout
    listed = kunveno(tmp_path, "admin", "blocks")
    assert listed.stdout.split() == ["domain", "spam.example", "spam"]
    refused = kunveno(tmp_path, "admin", "block", "domain", "not a domain")
    assert refused.returncode == 1
    assert "not a domain name" in refused.stderr
    lifted = kunveno(tmp_path, "admin", "unblock", "domain", "spam.example")
    assert "unblocked" in lifted.stdout
    assert kunveno(tmp_path, "admin", "blocks").stdout.strip() == ""


def test_federation_status_shows_the_workers_and_deliveries(tmp_path: Path) -> None:
    shown = kunveno(tmp_path, "federation", "status")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["inbox", "outbox"]
    assert lines[-1] == "deliveries: none"


def test_serve_without_a_base_url_names_its_own_address_in_ids(tmp_path: Path) -> None:
    assert kunveno(tmp_path, "demo", "seed").returncode == 0
    port = free_port()
    server = subprocess.Popen(
        command("serve", "--port", str(port)),
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/communities/neighbours"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(url, headers={"Accept": "application/activity+json"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert answer.json()["id"] == url
    finally:
        server.terminate()
        server.wait(timeout=10)
