"""The heavy-job queue: K respected (measured), places in line, cancelling, one job per session."""

from __future__ import annotations

import threading
import time

import pytest

from attnviz.jobs import JobQueue, JobRefused, ordinal


class _Gauge:
    """Counts jobs inside their critical section, independently of the queue's own bookkeeping."""

    def __init__(self):
        self.lock, self.now, self.peak = threading.Lock(), 0, 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


@pytest.mark.parametrize("k", [1, 3])
def test_at_most_k_heavy_jobs_run_at_once(k):
    queue, gauge, done = JobQueue(k), _Gauge(), []

    def job(i):
        with queue.admit(f"session-{i}", "attribution", poll=0.01), gauge:
            time.sleep(0.03)
            done.append(i)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(done) == list(range(12))
    assert gauge.peak == k == queue.peak_running  # reached, never passed
    assert queue.running == 0 and queue.waiting == 0


def test_waiting_jobs_see_their_place_and_leave_in_order():
    queue = JobQueue(1)
    release = threading.Event()
    places: dict[str, list[int]] = {}
    order: list[str] = []

    def holder():
        with queue.admit("holder"):
            release.wait(10)

    def waiter(name):
        with queue.admit(name, on_wait=lambda p: places.setdefault(name, []).append(p), poll=0.01):
            order.append(name)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    while queue.running == 0:
        time.sleep(0.001)
    for name in ("a", "b", "c"):  # queued one after the other: a is 1st in line, c 3rd
        threads.append(threading.Thread(target=waiter, args=(name,)))
        threads[-1].start()
        while queue.position(name) is None:
            time.sleep(0.001)
    assert [queue.position(n) for n in ("holder", "a", "b", "c")] == [0, 1, 2, 3]
    release.set()
    for t in threads:
        t.join(timeout=10)
    assert order == ["a", "b", "c"]
    assert places["c"][0] == 3 and places["c"] == sorted(places["c"], reverse=True) and places["c"][-1] >= 1


def test_a_cancelled_waiter_leaves_the_line_and_the_others_move_up():
    queue = JobQueue(1)
    release, cancel = threading.Event(), threading.Event()
    outcome = {}

    class Cancelled(Exception):
        pass

    def on_wait(place):
        if cancel.is_set():
            raise Cancelled

    def holder():
        with queue.admit("holder"):
            release.wait(10)

    def waiter():
        try:
            with queue.admit("quitter", on_wait=on_wait, poll=0.01):
                outcome["ran"] = True
        except Cancelled:
            outcome["cancelled"] = True

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    threads[0].start()
    while queue.running == 0:
        time.sleep(0.001)
    threads[1].start()
    while queue.position("quitter") != 1:
        time.sleep(0.001)
    cancel.set()
    threads[1].join(timeout=10)
    assert outcome == {"cancelled": True} and queue.position("quitter") is None and queue.waiting == 0
    release.set()
    threads[0].join(timeout=10)
    assert queue.running == 0


def test_one_heavy_job_per_session_nested_calls_pass_through():
    queue = JobQueue(1)
    with queue.admit("s"):
        with queue.admit("s"):  # e.g. an evaluation that computes attributions inside the same run
            assert queue.running == 1
        assert queue.position("s") == 0
    assert queue.position("s") is None


def test_a_sessions_new_run_waits_for_its_previous_job():
    """Streamlit starts a rerun while the stopped run is still computing: the new run's job waits for the old
    one to end (never two at once for one session), then runs; it is refused only after ``own_wait``."""
    queue = JobQueue(2)
    release, entered, events = threading.Event(), threading.Event(), []

    def old_run():
        with queue.admit("s", "attention"):
            entered.set()
            release.wait(10)
            events.append("old done")

    def new_run():
        with queue.admit("s", "attribution"):
            events.append(("new running", queue.running))

    first = threading.Thread(target=old_run)
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=new_run)
    second.start()
    second.join(timeout=0.5)
    assert second.is_alive() and events == [] and queue.running == 1  # waiting, though a slot is free
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert events == ["old done", ("new running", 1)] and queue.running == 0

    stuck = JobQueue(2, own_wait=0.2)
    errors = []
    with stuck.admit("s"):
        other = threading.Thread(target=lambda: _try(stuck, errors))
        other.start()
        other.join(timeout=10)
    assert len(errors) == 1 and "one at a time per session" in str(errors[0])


def _try(queue, errors):
    try:
        with queue.admit("s"):
            pass
    except JobRefused as exc:
        errors.append(exc)


def test_ordinal():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 13, 22)] == ["1st", "2nd", "3rd", "4th", "11th", "13th", "22nd"]


def test_localhost_with_nothing_set_has_no_line(monkeypatch):
    """Issue 18: on localhost with nothing set the app behaves as before — a heavy job never waits."""
    from attnviz import jobs
    from attnviz.ui import jobs as ui_jobs

    full = JobQueue(1)
    monkeypatch.setattr(jobs, "_default", full)
    monkeypatch.setattr(ui_jobs, "default_queue", lambda: full)
    monkeypatch.delenv("ATTNVIZ_SHARED", raising=False)
    monkeypatch.delenv("ATTNVIZ_MAX_JOBS", raising=False)
    with full.admit("someone else"):  # the only slot is taken
        with ui_jobs.heavy_job("attribution"):
            assert full.running == 1  # ran at once, outside the line
        monkeypatch.setenv("ATTNVIZ_MAX_JOBS", "1")  # the operator asked for a line: now it waits in it
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (ui_jobs.heavy_job("attribution").__enter__(), done.set()),
                                  daemon=True)
        waiter.start()
        assert not done.wait(1.0)
    assert done.wait(10)
