"""Wait for the CPUs to be idle before a timed round (the benches share a small machine with other work).

``QuietGate.wait()`` samples /proc/stat while this process sleeps: if the whole machine was busier
than ``threshold`` over the sample, something else is running, so it waits (up to ``max_wait`` seconds)
and samples again. Rounds that had to start anyway are counted, so the report can say how many
timings may be inflated by other load. Without /proc/stat (not Linux) it never waits.

Benches that use a gate also take turns: ``wait()`` takes an exclusive lock on a file in the temp
directory (``ATTNVIZ_BENCH_LOCK`` to move it) and holds it until the next ``wait()`` or ``release()``,
so two benches started at the same time do not time their rounds over each other.
"""

from __future__ import annotations

import os
import tempfile
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None

LOCK_PATH = os.environ.get("ATTNVIZ_BENCH_LOCK", os.path.join(tempfile.gettempdir(), "attnviz-bench.lock"))


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def busy_fraction(sample_s: float = 0.25) -> float | None:
    """Share of all CPUs that was busy during the next ``sample_s`` seconds (this process sleeps)."""
    a = _cpu_times()
    time.sleep(sample_s)
    b = _cpu_times()
    if a is None or b is None or b[0] == a[0]:
        return None
    return 1.0 - (b[1] - a[1]) / (b[0] - a[0])


class QuietGate:
    def __init__(self, threshold: float = 0.25, max_wait: float = 60.0, sample_s: float = 0.25,
                 enabled: bool = True):
        self.threshold = threshold
        self.max_wait = max_wait
        self.sample_s = sample_s
        self.enabled = enabled
        self.rounds = 0
        self.noisy = 0
        self.waited = 0.0
        self.busy_seen: list[float] = []
        self.lock_wait = 0.0
        self._lock_file = None

    def _acquire(self, timeout: float = 900.0) -> None:
        if fcntl is None or self._lock_file is not None:
            return
        f = open(LOCK_PATH, "a+")  # noqa: SIM115 - held across calls, closed in release()
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() - start > timeout:  # another bench hogs it: go on rather than hang
                    f.close()
                    return
                time.sleep(0.2)
        self.lock_wait += time.monotonic() - start
        self._lock_file = f

    def release(self) -> None:
        """Let other benches time their rounds (call when this one's timed work is done)."""
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def wait(self) -> float | None:
        """Block until the machine looks idle (or max_wait passed); returns the last busy fraction."""
        self.rounds += 1
        if not self.enabled:
            return None
        self.release()
        self._acquire()
        start = time.monotonic()
        while True:
            busy = busy_fraction(self.sample_s)
            if busy is None or busy <= self.threshold:
                break
            if time.monotonic() - start >= self.max_wait:
                self.noisy += 1
                break
            time.sleep(0.5)
        self.waited += time.monotonic() - start
        if busy is not None:
            self.busy_seen.append(busy)
        return busy

    def summary(self) -> str:
        if not self.enabled:
            return "quiet gate off: rounds ran whatever else the machine was doing"
        worst = max(self.busy_seen) if self.busy_seen else float("nan")
        return (f"quiet gate: {self.rounds} rounds, waited {self.lock_wait:.0f} s for other benches and "
                f"{self.waited:.0f} s in all for idle CPUs "
                f"(< {self.threshold:.0%} busy); {self.noisy} round(s) started under load anyway "
                f"(worst busy before a round {worst:.0%})")
