"""``kunveno export USERNAME -o FILE.zip``, run as a user runs it: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kunveno.adapters.portability.export import FILES
from kunveno.bootstrap import build
from kunveno.domain.community import Membership, Visibility
from kunveno.settings import Settings

pytestmark = pytest.mark.slow  # every test here starts interpreters


def kunveno(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUNVENO_")}
    env.update(
        KUNVENO_DATA_DIR=str(data_dir),
        KUNVENO_PASSWORD_TIME_COST="1",
        KUNVENO_PASSWORD_MEMORY_KIB="8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "kunveno.cli", *args],
        env=env,
        input=stdin.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    # Decoded as is: text mode would turn progress's "\r" into newlines.
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def add_activity(data_dir: Path, posts: int) -> None:
    """Alice founds a community and posts, as a server would record it, but nothing folds it:
    no server runs, so the export must bring the read models up to date itself."""
    node = build(
        Settings(
            database_url=f"sqlite:///{(data_dir / 'kunveno.sqlite3').resolve()}",
            password_time_cost=1,
            password_memory_kib=8,
        )
    )
    try:
        alice = node.accounts.person_id_for("alice")
        node.communities.found(
            alice,
            slug="menders",
            name="Menders",
            summary="",
            visibility=Visibility.PUBLIC,
            membership=Membership.OPEN,
        )
        for n in range(posts):
            node.posts.publish(alice, "menders", f"Alice's post {n}", None)
    finally:
        node.close()


def test_export_writes_a_zip_of_the_person_and_shows_progress(tmp_path: Path) -> None:
    created = kunveno(
        tmp_path,
        "admin",
        "create-user",
        "alice",
        "--display-name",
        "Alice Lindqvist",
        "--password-stdin",
        stdin="s3cret-pass\n",
    )
    assert created.returncode == 0, created.stderr
    add_activity(tmp_path, posts=50)
    output = tmp_path / "out" / "alice.zip"
    output.parent.mkdir()

    done = kunveno(tmp_path, "export", "alice", "-o", str(output))

    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(output) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(FILES)
        events = archive.read("events.jsonl").decode().splitlines()
        outbox = json.loads(archive.read("outbox.json"))
        actor = json.loads(archive.read("actor.json"))
    assert outbox["totalItems"] == 50
    assert actor["name"] == "Alice Lindqvist"
    assert done.stdout == f"exported {len(events)} events of alice to {output}\n"
    # One line per step, rewritten in place ("\r"): the read models caught up, then the export.
    shown = [line.split("\r")[-1] for line in done.stderr.split("\n") if line]
    assert [line.split()[0] for line in shown] == ["projections", "export"]
    assert " ".join(shown[-1].split()) == f"export {len(events)}/{len(events)} events (100%)"
    assert list(output.parent.iterdir()) == [output]  # no partial file left behind


def test_an_unknown_person_is_a_one_line_error_and_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "nobody.zip"

    done = kunveno(tmp_path, "export", "nobody", "-o", str(output))

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "error: no such person: 'nobody'\n"
    assert not output.exists()


def test_the_output_file_is_required(tmp_path: Path) -> None:
    done = kunveno(tmp_path, "export", "alice")
    assert done.returncode == 2
    assert "-o" in done.stderr
