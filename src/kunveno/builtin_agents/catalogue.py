"""The built-in agents a community can enable: each one's name, purpose and scopes.

The scopes are the narrowest that let the agent do its work through the public API, and are
what an admin sees granted when enabling it (they can narrow them later, and the agent then
stops doing what it can no longer do).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Builtin:
    key: str  # what `{"builtin": KEY}` names
    name: str
    description: str
    scopes: tuple[str, ...]
    why: str  # what each scope is for, for the listing


REMINDER = Builtin(
    key="reminder",
    name="Reminder",
    description=(
        "The day before a gathering, posts a reminder in the timeline and sends a notice to "
        "everyone registered by name."
    ),
    scopes=(
        "gatherings:read",
        "gatherings:write",
        "posts:read",
        "posts:write",
        "registrations:read",
    ),
    why=(
        "gatherings:read finds the gatherings of the next 24 hours; registrations:read tells "
        "whether anyone is registered by name; gatherings:write sends them a notice; "
        "posts:write posts the reminder; posts:read finds its own earlier reminders, so each "
        "gathering is reminded of once."
    ),
)

WELCOME = Builtin(
    key="welcome",
    name="Welcome",
    description="Greets each new member in the timeline.",
    scopes=("members:read", "posts:read", "posts:write", "stream:read"),
    why=(
        "stream:read follows the community's events for joins; members:read finds the new "
        "member's name; posts:write posts the greeting; posts:read finds its own earlier "
        "greetings, so nobody is greeted twice after a restart."
    ),
)

BUILTINS: dict[str, Builtin] = {builtin.key: builtin for builtin in (REMINDER, WELCOME)}
