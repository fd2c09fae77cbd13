"""Admission for heavy jobs: at most K run at once, the rest wait in line (first come, first served).

Heavy work (attention over a text, attribution, bias probes, audits, lab training) enters through
:meth:`JobQueue.admit`, a context manager. A job past the first K waits, and while it waits ``on_wait``
is called with its place in line (1 = next) every ``poll`` seconds: the page shows "3rd in line" there,
and an exception raised by ``on_wait`` (Streamlit's stop on a Cancel click) leaves the line cleanly.
Light work (a head switch, a view of a finished result) never enters, so it never waits.

One heavy job per owner (a browser session): a second ``admit`` by the same owner while its first job
holds a slot — a nested call in the same run — passes straight through; from another thread (Streamlit
starts a new run while the stopped one is still inside its computation) it waits for the first job to end,
then takes its place in line. Only if the first job is still running after ``own_wait`` seconds is it
refused with :class:`JobRefused`.

Example:
    >>> queue = JobQueue(max_running=2)
    >>> with queue.admit("session-1", "attribution"):
    ...     queue.running
    1
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .errors import AttnvizError
from .operator import max_jobs

__all__ = ["JobCancelled", "JobQueue", "JobRefused", "default_queue", "ordinal"]


class JobRefused(AttnvizError):
    """This owner's earlier heavy job (another run) did not end within the wait (one at a time per session)."""


class JobCancelled(AttnvizError):
    """The user cancelled a job while it waited in line."""


@dataclass
class _Ticket:
    owner: str
    kind: str
    number: int
    thread: int = field(default_factory=threading.get_ident)
    depth: int = 1
    started: float | None = None


class JobQueue:
    """A fair (FIFO) counting gate with places in line.

    Args:
        max_running: K, the heavy jobs that may run at once.
    """

    def __init__(self, max_running: int, *, own_wait: float = 600.0):
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running
        #: how long a session's new run waits for its own earlier job (a stopped run still computing)
        self.own_wait = own_wait
        self._cond = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._running: dict[str, _Ticket] = {}  # owner -> its running job
        self._numbers = itertools.count()
        #: the most jobs seen running at once (what tests and the soak bench check against K)
        self.peak_running = 0

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def position(self, owner: str) -> int | None:
        """``owner``'s place in line (1 = next), 0 while its job runs, None when it has none."""
        with self._cond:
            if owner in self._running:
                return 0
            return next((i + 1 for i, t in enumerate(self._waiting) if t.owner == owner), None)

    @contextmanager
    def admit(self, owner: str, kind: str = "job", *, on_wait: Callable[[int], None] | None = None,
              poll: float = 0.25) -> Iterator[None]:
        """Hold one of the K slots for the ``with`` block, waiting in line for it first.

        Raises:
            JobRefused: ``owner``'s job in another thread was still running after ``own_wait`` seconds.
        """
        with self._cond:
            held = self._running.get(owner)
            if held is not None and held.thread == threading.get_ident():
                held.depth += 1  # nested in the same run: it already holds a slot
                ticket = held
            else:
                self._wait_for_own_job(owner)
                ticket = _Ticket(owner, kind, next(self._numbers))
                self._waiting.append(ticket)
        try:
            if ticket.started is None:
                self._wait_for_slot(ticket, on_wait, poll)
            yield
        finally:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                elif ticket.depth > 1:
                    ticket.depth -= 1
                else:
                    self._running.pop(owner, None)
                self._cond.notify_all()

    def _wait_for_own_job(self, owner: str) -> None:
        """(Lock held.) Wait until ``owner`` has no job running in another thread."""
        deadline = time.monotonic() + self.own_wait
        while owner in self._running:
            left = deadline - time.monotonic()
            if left <= 0:
                raise JobRefused("This session's previous heavy job is still running: wait for it to finish "
                                 "(one at a time per session).")
            self._cond.wait(timeout=min(left, 1.0))

    def _wait_for_slot(self, ticket: _Ticket, on_wait: Callable[[int], None] | None, poll: float) -> None:
        while True:
            with self._cond:
                place = self._waiting.index(ticket) + 1
                if place == 1 and len(self._running) < self.max_running:
                    self._waiting.pop(0)
                    ticket.started = time.monotonic()
                    self._running[ticket.owner] = ticket
                    self.peak_running = max(self.peak_running, len(self._running))
                    return
            if on_wait is not None:
                on_wait(place)  # outside the lock: it draws on the page and may raise (a Cancel click)
            with self._cond:
                self._cond.wait(timeout=poll)


def ordinal(n: int) -> str:
    """1 → "1st", 2 → "2nd", 3 → "3rd", 11 → "11th", 22 → "22nd".

    >>> [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 103)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '103rd']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_default: JobQueue | None = None
_default_lock = threading.Lock()


def default_queue() -> JobQueue:
    """The process's queue, K = ``ATTNVIZ_MAX_JOBS`` (read once, on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JobQueue(max_jobs())
        return _default
