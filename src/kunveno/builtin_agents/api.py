"""The client API as one built-in agent calls it: over HTTP, with the agent's own token.

Built-ins hold no key to the node's services or database tables: what they read and write
goes through the same doors, scopes, rate limits and audit trail as any third party's agent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx


class Refused(Exception):
    """The node refused the agent: 401 or 403 (removed, suspended, a scope taken away) or 429
    (its rate limit). Anything else is a plain ``httpx.HTTPError``: try again later."""

    def __init__(self, status: int, code: str, detail: str, retry_after: float | None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after

    @property
    def final(self) -> bool:
        """The agent is gone for good (removed, or its token unknown): stop for ever."""
        return self.status == 401 or (self.status == 403 and "removed" in self.detail)


class AgentApi:
    def __init__(self, http: httpx.Client, token: str) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return _answer(self._http.get(path, params=params, headers=self._headers))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return _answer(self._http.post(path, json=body, headers=self._headers))

    @contextmanager
    def stream(
        self, path: str, last_event_id: int, read_timeout: float
    ) -> Iterator[httpx.Response]:
        """An open Server-Sent Events answer, resuming after ``last_event_id``."""
        headers = {**self._headers, "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = str(last_event_id)
        timeout = httpx.Timeout(10.0, read=read_timeout)
        with self._http.stream("GET", path, headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                _answer(response)
            yield response


def _answer(response: httpx.Response) -> Any:
    if response.status_code in (401, 403, 429):
        raise _refused(response)
    response.raise_for_status()
    return response.json() if response.content else None


def _refused(response: httpx.Response) -> Refused:
    try:
        body = response.json()
    except ValueError:
        body = {}
    retry_after = response.headers.get("Retry-After")
    return Refused(
        response.status_code,
        str(body.get("error", "")),
        str(body.get("detail", "")),
        float(retry_after) if retry_after and retry_after.isdigit() else None,
    )


def unworkable(error: httpx.HTTPStatusError) -> bool:
    """A 4xx about one thing (gone, cancelled, refused as invalid): skip that thing. A 5xx is
    the node's trouble: try the whole turn again later."""
    return 400 <= error.response.status_code < 500
