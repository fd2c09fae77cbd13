"""Byte budgets over caches: LRU order, sessions that end, and the Streamlit caches really cleared."""

from __future__ import annotations

import numpy as np
import streamlit as st

from attnviz.budget import ByteBudget, nbytes_of
from attnviz.ui.budgets import budgeted


def test_least_recently_used_goes_first_and_the_total_stays_under_the_limit():
    dropped = []
    budget = ByteBudget(100)
    for key in "abc":
        budget.record(key, 40, owner="s1", evict=lambda key=key: dropped.append(key))
    assert dropped == ["a"] and budget.used == 80
    budget.record("b", 40, owner="s2", evict=lambda: dropped.append("b"))  # a hit: b is now the newest
    budget.record("d", 40, owner="s2", evict=lambda: dropped.append("d"))
    assert dropped == ["a", "c"] and budget.used == 80 and budget.evictions == 2
    budget.record("huge", 500, owner="s1", evict=lambda: dropped.append("huge"))
    assert dropped[-3:] == ["b", "d", "huge"] and budget.used == 0


def test_entries_of_ended_sessions_are_freed_shared_ones_stay():
    dropped = []
    budget = ByteBudget(10**6)
    budget.record("mine", 10, owner="s1", evict=lambda: dropped.append("mine"))
    budget.record("shared", 10, owner="s1", evict=lambda: dropped.append("shared"))
    budget.record("shared", 10, owner="s2", evict=lambda: dropped.append("shared"))
    budget.forget_owners({"s1"})
    assert dropped == ["mine"] and budget.owners() == {"s2"}


def test_sizes_count_arrays_inside_results():
    arrays = {"attentions": np.zeros((6, 12, 64, 64), np.float32), "tokens": ["a"] * 64}
    assert 6 * 12 * 64 * 64 * 4 <= nbytes_of(arrays) < 6 * 12 * 64 * 64 * 4 + 10_000


def test_an_evicted_entry_is_really_gone_from_streamlits_cache():
    calls = []
    budget = ByteBudget(2 * 8000 + 1000)

    @budgeted(budget, per_session=False)
    @st.cache_data(max_entries=100, show_spinner=False)
    def square(n: int, _unhashed=None) -> np.ndarray:
        calls.append(n)
        return np.full(1000, n, dtype=np.float64)  # 8,000 bytes

    square.clear()
    for n in (1, 2, 1, 3):  # 1 is used again before 3 arrives, so 2 is the one dropped
        square(n, _unhashed=object())
    assert calls == [1, 2, 3]
    square(1)
    square(3)
    assert calls == [1, 2, 3]  # still cached
    square(2)
    assert calls == [1, 2, 3, 2]  # recomputed: it had been cleared
