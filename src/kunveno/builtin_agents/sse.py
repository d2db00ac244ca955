"""Server-Sent Events, read line by line as the WHATWG HTML standard (§9.2.6) parses them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerEvent:
    id: str | None  # the last ``id:`` seen (it carries over to later events)
    event: str
    data: str


def server_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """Each event of the stream, dispatched at its blank line; comments are skipped."""
    last_id: str | None = None
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield ServerEvent(last_id, event, "\n".join(data))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id" and "\0" not in value:
            last_id = value
