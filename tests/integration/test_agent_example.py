"""The third-party agent in ``examples/`` against a live node: asked "!next" in the timeline,
it answers with the next gathering, through nothing but the public API and its own token.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
from api_helpers import Headers, Json, found, join, schedule, sign_up, timeline
from federation_support import ServedNode, eventually, served_node

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent_example.py"
SCOPES = ["stream:read", "posts:read", "posts:write", "gatherings:read"]


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agent_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def a_community_asking(node: ServedNode) -> tuple[Headers, str, Json, str]:
    """A community with gatherings (the first one cancelled), an agent made as the docstring
    says, and a member asking "!next": the admin's headers, the agent's token, the next
    gathering, the question's id."""
    api = node.api
    admin = sign_up(api, "ada")
    found(api, admin, "club")
    schedule(api, admin, "club", in_days=9, title="Picnic")
    soon = schedule(api, admin, "club", in_days=2, title="Repair café")
    called_off = schedule(api, admin, "club", in_days=1, title="Called off")
    api.post(f"/api/v1/gatherings/{called_off['id']}/cancel", headers=admin).raise_for_status()
    made = api.post(
        "/api/v1/communities/club/agents", json={"name": "Next", "scopes": SCOPES}, headers=admin
    )
    assert made.status_code == 201, made.text
    bob = sign_up(api, "bob")
    join(api, "club", bob)
    for words in ("hello all", "what is !next?"):
        posted = api.post("/api/v1/communities/club/posts", json={"content": words}, headers=bob)
        assert posted.status_code == 201, posted.text
    return admin, made.json()["token"], soon, posted.json()["id"]


def replies(node: ServedNode, admin: Headers) -> list[Json]:
    return [post for post in timeline(node.api, "club", admin) if post["by_agent"]]


def test_the_example_is_under_fifty_lines() -> None:
    assert len(EXAMPLE.read_text().splitlines()) < 50


def test_the_example_agent_answers_next_with_the_next_gathering(database_url: str) -> None:
    example = load_example()
    with served_node(database_url, builtin_agents=False) as node:
        admin, token, soon, question = a_community_asking(node)

        # From the start of the log; two quiet seconds end the run (it would follow for ever).
        with contextlib.suppress(httpx.ReadTimeout):
            example.run(node.url, token, last_id="0", idle=2.0)

        [reply] = replies(node, admin)
        assert reply["in_reply_to"] == question
        assert reply["by_agent"]["label"] == "by agent Next"
        assert reply["content"] == f"Next: Repair café, {soon['starts_at']} — {soon['url']}"


def test_the_example_runs_as_its_docstring_says(database_url: str) -> None:
    with served_node(database_url, builtin_agents=False) as node:
        admin, token, _, question = a_community_asking(node)
        env = {
            **os.environ,
            "KUNVENO_URL": node.url,
            "KUNVENO_AGENT_TOKEN": token,
            "KUNVENO_LAST_EVENT_ID": "0",
        }
        agent = subprocess.Popen(
            [sys.executable, str(EXAMPLE)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:

            def answered() -> list[Json]:
                """the example answers the question"""
                return [r for r in replies(node, admin) if r["in_reply_to"] == question]

            [reply] = eventually(answered)
            assert reply["content"].startswith("Next: Repair café, ")
        finally:
            agent.terminate()
            _, errors = agent.communicate(timeout=10)
        assert b"Traceback" not in errors
