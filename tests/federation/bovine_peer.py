"""bovine-herd, an independently written ActivityPub server, as a test peer on loopback.

Drives ``/work/shared/peers/start-bovine.sh`` and ``probe-bovine.py`` (see the README there).
The installed virtualenv is cached once per machine (``KUNVENO_BOVINE_DIR``, default
``$TMPDIR/kunveno-bovine``); every run gets a folder of its own (database, logs, peer.json)
whose ``venv`` links to the cached one, so runs on different ports never share state.
A plain module, not a conftest (see tests/integration/api_helpers.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import free_port

PEERS = Path(__file__).resolve().parents[3] / "shared" / "peers"
START = PEERS / "start-bovine.sh"
PROBE = PEERS / "probe-bovine.py"
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 120.0

Json = dict[str, Any]

# Runs under bovine's python: every item of alice's inbox, one JSON document a line.
DUMP_INBOX = """
import asyncio, json, sys
from bovine import BovineClient

async def main(base, secret):
    async with BovineClient(domain=base, secret=secret) as client:
        async for item in client.inbox():
            print(json.dumps(item), flush=True)

asyncio.run(main(*sys.argv[1:3]))
"""

# Runs under bovine's python: alice undoes her Follow of argv[3]; prints the outbox's answer.
UNFOLLOW = """
import asyncio, sys
from bovine import BovineClient

def id_of(value):
    return value.get("id") if isinstance(value, dict) else value

async def main(base, secret, target):
    async with BovineClient(domain=base, secret=secret) as client:
        async for item in client.outbox():
            if item.get("type") == "Follow" and id_of(item.get("object")) == target:
                undo = client.activity_factory.undo(item).build()
                answer = await client.send_to_outbox(undo)
                print("Undo(Follow)", target, "->", answer.status, answer.headers["location"])
                return
        sys.exit(f"no Follow of {target} in the outbox")

asyncio.run(main(*sys.argv[1:4]))
"""


class BovineUnavailable(Exception):
    """bovine could not be installed or started; the message carries the script's output."""


def cache_dir() -> Path:
    default = Path(os.environ.get("TMPDIR", "/tmp")) / "kunveno-bovine"
    return Path(os.environ.get("KUNVENO_BOVINE_DIR", default))


def _script_env(peer_dir: Path, port: int, *, offline: bool) -> dict[str, str]:
    env = dict(os.environ, PEER_DIR=str(peer_dir), HOST="127.0.0.1", PORT=str(port))
    env["HANDLE"] = "alice"
    if offline:
        # bovine resolves unknown JSON-LD contexts (e.g. https://w3id.org/security/v1) with
        # `requests`, which honours these: point it at a closed loopback port so it fails at
        # once and nothing leaves the machine. Its deliveries (aiohttp) ignore proxy variables.
        dead = f"http://127.0.0.1:{free_port()}"
        env |= {"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead}
        env |= {"https_proxy": dead, "NO_PROXY": "127.0.0.1,localhost"}
        env["no_proxy"] = env["NO_PROXY"]
    return env


def _run(args: list[str], env: dict[str, str], timeout: float) -> str:
    """Run a command; its combined output, or BovineUnavailable with that output."""
    try:
        done = subprocess.run(
            args,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BovineUnavailable(f"{' '.join(args)}: {error}") from error
    if done.returncode != 0:
        raise BovineUnavailable(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}")
    return done.stdout


def ensure_installed() -> Path:
    """The cached bovine virtualenv, installed by start-bovine.sh itself on first use.

    The script installs into ``$PEER_DIR/venv`` and then starts the server; the first run
    does that in the cache folder (under a lock, so parallel runs install once) and stops
    the server again. About 35 s from nothing, nothing once installed.
    """
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / "venv"
    with (root / "install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "bin" / "hypercorn").exists():
            env = _script_env(root, free_port(), offline=False)
            try:
                _run(["bash", str(START)], env, INSTALL_TIMEOUT)
            finally:
                _run(["bash", str(START), "stop"], env, 30)
    return venv


class Bovine:
    """A running bovine-herd and its one actor, ``alice``."""

    def __init__(self, peer_dir: Path, env: dict[str, str]) -> None:
        self.peer_dir = peer_dir
        self.env = env
        self.info: Json = json.loads((peer_dir / "peer.json").read_text())

    @property
    def actor(self) -> str:
        actor: str = self.info["actor_id"]
        return actor

    @property
    def base(self) -> str:
        base: str = self.info["base"]
        return base

    def log(self) -> str:
        return (self.peer_dir / "herd.log").read_text(errors="replace")

    def _python(self, args: list[str], timeout: float = 60) -> str:
        """Run bovine's python; its output, or an AssertionError that shows bovine's log."""
        try:
            return _run([self.info["python"], *args], self.env, timeout)
        except BovineUnavailable as error:
            tail = self.log()[-6000:]
            raise AssertionError(f"{error}\n--- bovine log (tail) ---\n{tail}") from None

    def probe(self, *args: str, timeout: float = 60) -> str:
        """probe-bovine.py's output."""
        peer_json = str(self.peer_dir / "peer.json")
        return self._python([str(PROBE), "--peer-json", peer_json, *args], timeout)

    def follow(self, actor_url: str, wait: float = 15) -> str:
        """alice follows ``actor_url``; the probe waits up to ``wait`` s for the Accept."""
        return self.probe("--follow", actor_url, "--wait", str(wait), timeout=wait + 60)

    def inbox(self) -> list[Json]:
        """What alice received (bovine's inbox collection, newest first), read through
        bovine's client API as the probe's ``--dump-inbox`` does, but whole: the probe cuts
        each item at 3000 characters, and a ``Create(Event)`` is longer."""
        secret = self.info["moo_auth_secret"]
        output = self._python(["-c", DUMP_INBOX, self.base, secret])
        return [json.loads(line) for line in output.splitlines() if line.startswith("{")]

    def unfollow(self, actor_url: str) -> str:
        """alice undoes her Follow of ``actor_url``; the Undo's id. (``probe-bovine.py
        --unfollow`` looks for a Follow whose ``object`` is the URL, but bovine's outbox
        embeds the followed actor there, so the probe never finds one.)"""
        secret = self.info["moo_auth_secret"]
        output = self._python(["-c", UNFOLLOW, self.base, secret, actor_url])
        words = output.split()
        assert words[:4] == ["Undo(Follow)", actor_url, "->", "201"], output
        return words[4]

    def wait_for_inbox(self, found: Callable[[Json], bool], timeout: float = 20) -> Json:
        """The first inbox item for which ``found`` holds, polling for ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.inbox()
            for item in items:
                if found(item):
                    return item
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not in bovine's inbox after {timeout} s: {json.dumps(items)[:4000]}"
                    f"\n--- bovine log (tail) ---\n{self.log()[-6000:]}"
                )
            time.sleep(0.5)


@contextmanager
def running_bovine(run_dir: Path) -> Iterator[Bovine]:
    """Start bovine on a free loopback port with its state in ``run_dir``; always stop it."""
    venv = ensure_installed()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "venv").symlink_to(venv, target_is_directory=True)
    env = _script_env(run_dir, free_port(), offline=True)
    try:
        _run(["bash", str(START)], env, START_TIMEOUT)
        yield Bovine(run_dir, env)
    finally:
        _run(["bash", str(START), "stop"], env, 30)
