"""The dependency rule, read from the source: domain <- application <- adapters, the read
side (projections) beside the application, never through it, and the built-in agents outside
all of it, using the public HTTP API as any agent does.

Every ``import`` of every module under ``src/kunveno`` is read with ``ast`` (type-checking-only
imports too: they are arrows as well) and checked against the rules below.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "src" / "kunveno"

FRAMEWORKS = frozenset(
    {
        "fastapi",
        "starlette",
        "uvicorn",
        "pydantic",
        "pydantic_settings",
        "httpx",
        "psycopg",
        "psycopg_pool",
        "sqlite3",
        "apscheduler",
        "argon2",
    }
)

# layer -> packages it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "kunveno.application": (
        "kunveno.adapters",
        "kunveno.projections",
        "kunveno.bootstrap",
        "kunveno.cli",
    ),
    "kunveno.projections": ("kunveno.adapters", "kunveno.application"),
    # The built-in agents act as any agent must: through the public HTTP API only, never
    # the services, the domain, or the API's own routes.
    "kunveno.builtin_agents": (
        "kunveno.application",
        "kunveno.domain",
        "kunveno.adapters.http",
    ),
}


def is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, is_package: bool = False) -> Iterator[str]:
    """Each name imported, as a dotted path (``from a import b`` gives ``a.b``)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def wrong_arrows(module: str, names: Iterator[str]) -> list[str]:
    wrong = []
    for name in names:
        if is_within(module, "kunveno.domain"):
            if is_within(name, "kunveno") and not is_within(name, "kunveno.domain"):
                wrong.append(f"{module} -> {name}: the domain imports no other layer")
            if name.split(".")[0] in FRAMEWORKS:
                wrong.append(f"{module} -> {name}: the domain imports no framework")
        for layer, forbidden in FORBIDDEN.items():
            if is_within(module, layer):
                wrong.extend(
                    f"{module} -> {name}: {layer} does not import {package}"
                    for package in forbidden
                    if is_within(name, package)
                )
    return wrong


def source_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(path), path) for path in PACKAGE_DIR.rglob("*.py"))


def test_every_module_keeps_the_dependency_rule() -> None:
    wrong = [
        arrow
        for module, path in source_modules()
        for arrow in wrong_arrows(
            module, imported_names(path.read_text(), module, path.name == "__init__.py")
        )
    ]

    assert wrong == []


def test_the_walk_sees_every_guarded_layer() -> None:
    """Guard for the test above: a moved package must not make it pass by finding nothing."""
    modules = [module for module, _ in source_modules()]

    for layer in ("kunveno.domain", "kunveno.application", "kunveno.projections", *FORBIDDEN):
        assert sum(is_within(m, layer) for m in modules) >= 3, layer
    assert "kunveno.domain.gathering" in modules


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("kunveno.domain.x", "from kunveno.application.log import EventLog"),
        ("kunveno.domain.x", "import kunveno.projections.views"),
        ("kunveno.domain.x", "from kunveno import bootstrap"),
        ("kunveno.domain.x", "from ..adapters import passwords"),
        ("kunveno.domain.x", "import sqlite3"),
        ("kunveno.domain.x", "from pydantic import BaseModel"),
        ("kunveno.domain.x", "import fastapi.routing"),
        ("kunveno.application.x", "from kunveno.adapters.passwords import Argon2PasswordHasher"),
        ("kunveno.application.x", "from kunveno.projections.queries import Queries"),
        ("kunveno.application.x", "from kunveno.bootstrap import build"),
        ("kunveno.application.x", "from kunveno import cli"),
        ("kunveno.application.x", "from .. import bootstrap"),
        ("kunveno.projections.x", "from kunveno.application.log import EventLog"),
        ("kunveno.projections.x", "from kunveno.adapters.persistence import sqlite"),
        ("kunveno.builtin_agents.x", "from kunveno.application.agents import AgentService"),
        ("kunveno.builtin_agents.x", "from kunveno.domain.errors import Conflict"),
        ("kunveno.builtin_agents.x", "from kunveno.adapters.http import agents"),
        ("kunveno.builtin_agents.x", "import kunveno.adapters.http.schemas"),
    ],
)
def test_a_wrong_arrow_is_caught(module: str, source: str) -> None:
    assert wrong_arrows(module, imported_names(source, module)) != []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("kunveno.domain.x", "from kunveno.domain.actor import Actor"),
        ("kunveno.domain.x", "from . import errors"),
        ("kunveno.domain.x", "from eventsourcing.domain import Aggregate"),
        ("kunveno.application.x", "from kunveno.domain.gathering import Gathering"),
        ("kunveno.projections.x", "from kunveno.domain.post import Post"),
        ("kunveno.adapters.x", "from kunveno.bootstrap import build"),
        ("kunveno.builtin_agents.x", "from .api import AgentApi"),
        ("kunveno.builtin_agents.x", "import httpx"),
    ],
)
def test_a_right_arrow_passes(module: str, source: str) -> None:
    assert wrong_arrows(module, imported_names(source, module)) == []
