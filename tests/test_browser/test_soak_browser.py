"""Soak (short, CI): 10 Chromium sessions use Attention, Attribution and Compare two at once for a fixed time
on a server with a heavy-job limit. No error box, no session sees another's words, every page answers,
and the server's memory at the end is within 20% of its level a third of the way in (bench/bench_soak.py
runs 30 sessions for minutes and plots memory and latency over time)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.test_browser.conftest import ARTIFACTS, serve_app
from tests.test_browser.soak import load_note, run_soak

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: ATTNVIZ_SOAK_SESSIONS lowers the count on a machine that other work already loads (the issue asks for 10).
#: 20 s: on 2 cores a click of one of 10 sessions takes 45-85 s, so every session still makes at least one
#: run with its own words after its first page (runs in flight at the deadline finish); the long soak is bench/bench_soak.py.
SESSIONS, SECONDS = int(os.environ.get("ATTNVIZ_SOAK_SESSIONS", "10")), 20


def test_ten_sessions_soak(monkeypatch):
    monkeypatch.setenv("ATTNVIZ_MAX_JOBS", "2")
    with serve_app() as url:
        # its own thread: the session's sync Playwright (other browser tests) keeps an event loop running in
        # this one, and the soak's async driver needs asyncio.run
        with ThreadPoolExecutor(1) as pool:
            report = pool.submit(run_soak, url, SESSIONS, SECONDS).result()
    summary = {"sessions": SESSIONS, "seconds": SECONDS, "latency_s": report.percentiles(),
               "rss_mb": [(round(t, 1), round(r / 2**20)) for t, r in report.memory], "load": load_note(),
               "errors": report.errors, "leaks": report.leaks}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "soak.json").write_text(json.dumps(summary, indent=1))
    assert not report.errors, report.errors
    assert not report.leaks, report.leaks
    assert set(summary["latency_s"]) == {"attention", "attribution", "compare_two"}, summary["latency_s"]
    early, end = report.rss_at(SECONDS / 3), report.memory[-1][1]
    assert end <= 1.2 * early, f"memory grew from {early / 2**20:.0f} MB to {end / 2**20:.0f} MB"
