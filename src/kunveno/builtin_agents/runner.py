"""Runs the built-in agents of a node in the background: the reminder on an interval, and one
thread per welcome agent holding its community's stream open.

Both act over HTTP against the node's own API (``settings.base_url``, or
``builtin_agents_api_url`` where the node cannot reach its public address from inside), with
each agent's token from the side table. Tests drive ``reminder.run_once()`` and
``welcome.run_once()`` directly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

import httpx

from kunveno.adapters.scheduler import IntervalJob
from kunveno.projections.store import ReadStore

from .acting import Acting
from .catalogue import WELCOME
from .reminder import Reminder
from .state import AgentStates, Enabled
from .welcome import Welcome

log = logging.getLogger(__name__)

FOLLOWER_CHECK_SECONDS = 15.0  # how soon a newly enabled (or resumed) welcome agent starts
STREAM_READ_TIMEOUT = 25.0  # a quiet stream is reopened this often (and the lease renewed)


class BuiltinAgents:
    def __init__(
        self,
        store: ReadStore,
        api_url: str,
        now: Callable[[], datetime],
        *,
        reminder_seconds: float,
        user_agent: str = "Kunveno built-in agents",
    ) -> None:
        self.states = AgentStates(store)
        self._http = httpx.Client(
            base_url=api_url, timeout=20.0, headers={"User-Agent": user_agent}
        )
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        acting = Acting(self.states, self._http, now, holder)
        self.reminder = Reminder(acting, self.states, now)
        self.welcome = Welcome(acting, self.states)
        self._reminder_job = IntervalJob("builtin-reminder", reminder_seconds, self._remind)
        self._followers = Followers(acting, self.welcome)

    def setup(self) -> None:
        self.states.setup()

    def start(self) -> None:
        self._reminder_job.start()
        self._followers.start()

    def stop(self) -> None:
        self._followers.stop()
        self._reminder_job.stop()

    def poke(self) -> None:
        """A built-in was just enabled: let it start now rather than at the next check."""
        self._followers.poke()

    def close(self) -> None:
        self.stop()
        self._http.close()

    def _remind(self) -> None:
        try:
            reminded = self.reminder.run_once()
        except Exception:
            log.exception("the reminder pass failed; it runs again at the next interval")
            return
        if reminded:
            log.info("built-in reminder: %d gathering(s) reminded of", reminded)


class Followers:
    """A thread per welcome agent that may act now; a check every few seconds starts those
    missing (newly enabled, resumed after a pause, or whose lease another process let go)."""

    def __init__(self, acting: Acting, welcome: Welcome) -> None:
        self._acting = acting
        self._welcome = welcome
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}
        self._open: dict[str, httpx.Response] = {}
        self._job = IntervalJob("builtin-welcome", FOLLOWER_CHECK_SECONDS, self.check)

    def start(self) -> None:
        # No check at once: the server may not listen yet while the node starts.
        self._stop = threading.Event()  # a thread left from before keeps its own, set
        self._job.start()

    def poke(self) -> None:
        self._job.run_soon()

    def check(self) -> None:
        try:
            due = self._acting.due(WELCOME.key)
        except Exception:
            log.exception("could not read the welcome agents; checking again soon")
            return
        for agent in due:
            with self._lock:
                running, stop = self._threads.get(agent.agent_id), self._stop
                if stop.is_set() or (running is not None and running.is_alive()):
                    continue
                thread = threading.Thread(
                    target=self._run,
                    args=(agent, stop),
                    name=f"welcome-{agent.agent_id}",
                    daemon=True,
                )
                self._threads[agent.agent_id] = thread
            thread.start()

    def stop(self) -> None:
        self._job.stop()
        self._stop.set()
        with self._lock:
            threads = list(self._threads.values())
            responses = list(self._open.values())
        for response in responses:
            _interrupt(response)
        for thread in threads:
            thread.join(timeout=5)

    def _run(self, agent: Enabled, stop: threading.Event) -> None:
        def opened(response: httpx.Response) -> None:
            with self._lock:
                self._open[agent.agent_id] = response

        try:
            self._acting.turn(
                agent,
                lambda turn: self._welcome.follow(turn, stop, STREAM_READ_TIMEOUT, opened),
            )
        except Exception:
            log.exception("the welcome agent %s stopped; it starts again soon", agent.agent_id)
        finally:
            with self._lock:
                self._open.pop(agent.agent_id, None)


def _interrupt(response: httpx.Response) -> None:
    """Wake a thread blocked reading the stream: shutting the socket down ends its read
    (closing it from another thread would not, on Linux)."""
    stream = response.extensions.get("network_stream")
    sock = None if stream is None else stream.get_extra_info("socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # closed already
            sock.shutdown(socket.SHUT_RDWR)
