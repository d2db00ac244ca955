"""A third-party Kunveno agent: whoever posts "!next" in its community gets the next gathering.

Make it as an admin of the community, and keep the token the answer shows (only once):
  curl "$URL/api/v1/communities/SLUG/agents" -H "Authorization: Bearer $ADMIN_TOKEN" --json \
    '{"name": "Next", "scopes": ["stream:read", "posts:read", "posts:write", "gatherings:read"]}'
Run it (it needs httpx); give KUNVENO_LAST_EVENT_ID, as printed, to resume after a stop:
  KUNVENO_URL="$URL" KUNVENO_AGENT_TOKEN=kva_... python examples/agent_example.py
"""

import json
import os
from typing import Any

import httpx


def answer(api: httpx.Client, slug: str, post: dict[str, Any]) -> None:
    if "!next" not in (post["payload"].get("content") or "") or post["by_agent"]:
        return  # not a question, or an agent's post (ours, say)
    gatherings = api.get(f"/api/v1/communities/{slug}/gatherings").json()
    upcoming = [g for g in gatherings if g["status"] == "scheduled"] + [{}]
    text = "Next: {title}, {starts_at} — {url}" if upcoming[0] else "Nothing is planned yet."
    reply = {"content": text.format(**upcoming[0]), "in_reply_to": post["object_id"]}
    api.post(f"/api/v1/communities/{slug}/posts", json=reply).raise_for_status()


def run(url: str, token: str, last_id: str | None = None, idle: float | None = None) -> None:
    """Follow the stream from now (or after ``last_id``); ``idle`` s of quiet: ReadTimeout."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(10, read=idle)
    with httpx.Client(base_url=url, headers=headers, timeout=timeout) as api:
        slug = api.get("/api/v1/agents/me").raise_for_status().json()["community"]
        path = f"/api/v1/communities/{slug}/stream"
        with api.stream("GET", path, headers={"Last-Event-ID": last_id or ""}) as stream:
            event: dict[str, str] = {}
            for line in stream.raise_for_status().iter_lines():
                name, _, value = line.partition(": ")
                if line and name in ("id", "event", "data"):
                    event[name] = value
                elif not line and "data" in event:
                    if event.get("event") == "kunveno.post.published":
                        answer(api, slug, json.loads(event["data"]))
                    print("last event id:", event.get("id"), flush=True)
                    event = {}


if __name__ == "__main__":
    env = os.environ
    run(env["KUNVENO_URL"], env["KUNVENO_AGENT_TOKEN"], env.get("KUNVENO_LAST_EVENT_ID"))
