"""``kunveno audit SLUG``, run as a user runs it: a subprocess, on SQLite and PostgreSQL.

Nothing is folded before it runs (no server): the command brings the read models up to date
itself, then prints the trail as a table or as JSON Lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from conftest import test_settings as settings_for
from kunveno.application.callers import Caller
from kunveno.bootstrap import build
from kunveno.domain.community import Membership, Visibility

pytestmark = pytest.mark.slow  # every test here starts interpreters

START = datetime(2030, 1, 1, tzinfo=UTC)


class TickingClock:
    """A second per reading, from ``START``: the trail's times are known in advance."""

    def __init__(self) -> None:
        self._now = START

    def now(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now


def kunveno(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUNVENO_")}
    env.update(
        KUNVENO_DATABASE_URL=database_url,
        KUNVENO_PASSWORD_TIME_COST="1",
        KUNVENO_PASSWORD_MEMORY_KIB="8",
    )
    return subprocess.run(
        [sys.executable, "-m", "kunveno.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def record_story(database_url: str) -> UUID:
    """Olga's agent posts twice and is refused once, as a server would record it; nothing
    folds it. Answers the agent's id."""
    node = build(settings_for(database_url), clock=TickingClock())
    try:
        olga = node.accounts.register("olga", "s3cret-pass", None, None).value
        node.communities.found(
            olga,
            slug="menders",
            name="Menders",
            summary="",
            visibility=Visibility.PUBLIC,
            membership=Membership.OPEN,
        )
        made = node.agents.create(
            olga, "menders", name="Helper", description="", scopes=["posts:write"]
        )
        agent_id = made.value.agent_id
        robot = Caller.of_agent(node.agents.load(agent_id))
        node.posts.publish(robot, "menders", "Hello", None)
        node.posts.publish(robot, "menders", "Again", None)
        node.agents.refused(
            agent_id,
            method="POST",
            path="/api/v1/communities/menders/gatherings",
            scope="gatherings:write",
            reason="this agent lacks the scope 'gatherings:write'",
        )
        return agent_id
    finally:
        node.close()


def test_audit_prints_an_agents_trail_as_a_table_and_as_json_lines(database_url: str) -> None:
    agent_id = record_story(database_url)

    table = kunveno(database_url, "audit", "menders", "--actor", f"agent:{agent_id}")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["position", "at", "actor", "action", "object", "scope", "detail"]
    assert len(lines) == 3, table.stdout
    assert all("agent Helper" in line for line in lines)
    assert [line.split()[4] for line in lines[:2]] == ["post.published"] * 2
    assert "posts:write" in lines[0]
    assert "agent.attempt_refused" in lines[2]
    assert "gatherings:write" in lines[2]
    assert "refused: this agent lacks the scope" in lines[2]
    assert "POST /api/v1/communities/menders/gatherings" in lines[2]
    assert "3 events" in table.stderr

    lines_json = kunveno(database_url, "audit", "menders", "--actor", f"agent:{agent_id}", "--json")
    assert lines_json.returncode == 0, lines_json.stderr
    items = [json.loads(line) for line in lines_json.stdout.splitlines()]
    assert [(i["action"], i["scope"], i["actor_label"]) for i in items] == [
        ("post.published", "posts:write", "agent Helper"),
        ("post.published", "posts:write", "agent Helper"),
        ("agent.attempt_refused", "gatherings:write", "agent Helper"),
    ]
    assert items[2]["object_id"] == str(agent_id)
    assert items[2]["detail"] == "this agent lacks the scope 'gatherings:write'"
    positions = [i["position"] for i in items]
    assert positions == sorted(positions)

    # The whole trail, and a window of it (times tick a second per event from START).
    everything = kunveno(database_url, "audit", "menders", "--json")
    assert everything.returncode == 0, everything.stderr
    all_items = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [i["action"] for i in all_items] == [
        "community.founded",
        "agent.created",
        "post.published",
        "post.published",
        "agent.attempt_refused",
    ]
    assert all_items[0]["actor_label"] == "olga"
    second, fourth = all_items[1]["at"], all_items[3]["at"]
    window = kunveno(
        database_url, "audit", "menders", "--json", "--since", second, "--until", fourth
    )
    assert window.returncode == 0, window.stderr
    assert [json.loads(line) for line in window.stdout.splitlines()] == all_items[1:3]


def test_audit_refuses_bad_input_with_one_line(database_url: str) -> None:
    record_story(database_url)
    for args, says in (
        (("nowhere",), "no such community"),
        (("menders", "--actor", "bob"), "not an actor"),
        (("menders", "--since", "tomorrow"), "since"),
        (("menders", "--since", "2030-01-02", "--until", "2030-01-01"), "before"),
    ):
        result = kunveno(database_url, "audit", *args)
        assert result.returncode == 1, (args, result)
        assert result.stdout == ""
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: "), (args, result.stderr)
        assert says in last, (args, result.stderr)


def test_audit_help_states_its_purpose(tmp_path: Path) -> None:
    result = kunveno(f"sqlite:///{tmp_path}/kunveno.sqlite3", "audit", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert text.startswith("usage: kunveno audit")
    assert "print a community's audit trail, derived from the log" in text
    for option in ("--actor", "--since", "--until", "--json"):
        assert option in text
