"""Soak (short, CI): 10 Chromium sessions use Attention, Attribution and Compare two at once for a fixed time
on a server with a heavy-job limit. No error box, no session sees another's words, every page answers,
and the server's memory after the first third stays within 20% of its level then (bench/bench_soak.py
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
#: 20 s: on 2 cores a click of one of 10 sessions takes 8-17 s (p50-p95), so each session makes one to three
#: runs with its own words after its first page (runs in flight at the deadline finish). Long soak: bench/.
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
    # plateau: the peak after the first third of the soak stays within 20% of the peak in it. Peaks, not
    # single samples: the resident size swings ±10% between samples as results are cached and freed
    third = report.memory[-1][0] / 3
    early = max(rss for t, rss in report.memory if t <= third)
    late = max(rss for t, rss in report.memory if t > third)
    assert late <= 1.2 * early, f"memory grew from a peak of {early / 2**20:.0f} MB to {late / 2**20:.0f} MB"
