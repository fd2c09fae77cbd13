"""A byte budget over cache entries that live elsewhere (Streamlit's caches): least recently used first out.

The cache keeps the values; the budget keeps, per entry, its size in bytes, the sessions that used it and
a callback that drops it from its cache. Over the budget, the least recently used entries are dropped; an
entry used only by sessions that have ended is dropped when that is noticed (:meth:`ByteBudget.forget_owners`).

Example:
    >>> dropped = []
    >>> budget = ByteBudget(100)
    >>> budget.record("a", 60, owner="s1", evict=lambda: dropped.append("a"))
    >>> budget.record("b", 60, owner="s2", evict=lambda: dropped.append("b"))
    >>> dropped, budget.used
    (['a'], 60)
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

import numpy as np

__all__ = ["ByteBudget", "nbytes_of"]


@dataclasses.dataclass
class _Entry:
    nbytes: int
    owners: set[str]
    evict: Callable[[], None]


class ByteBudget:
    """LRU accounting of cache entries against ``limit`` bytes (thread-safe)."""

    def __init__(self, limit: int):
        self.limit = int(limit)
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        #: entries dropped so far (for the sidebar and the soak bench)
        self.evictions = 0

    @property
    def used(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def record(self, key: Hashable, nbytes: int, *, owner: str, evict: Callable[[], None]) -> None:
        """Note a use of ``key`` (a hit or a new value) by ``owner``; drop the oldest entries over the limit.

        An entry bigger than the whole budget is dropped at once (it was computed for this request only).
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(int(nbytes), set(), evict)
            entry.owners.add(owner)
            self._entries.move_to_end(key)
            victims = []
            total = sum(e.nbytes for e in self._entries.values())
            while total > self.limit and self._entries:
                old_key, old = self._entries.popitem(last=False)
                total -= old.nbytes
                victims.append(old)
        self._drop(victims)

    def forget_owners(self, ended: Iterable[str]) -> None:
        """Sessions that ended: their names leave every entry; entries nobody else used are dropped."""
        ended = set(ended)
        if not ended:
            return
        with self._lock:
            victims = []
            for key in list(self._entries):
                entry = self._entries[key]
                if entry.owners & ended:
                    entry.owners -= ended
                    if not entry.owners:
                        victims.append(self._entries.pop(key))
        self._drop(victims)

    def owners(self) -> set[str]:
        with self._lock:
            return set().union(*(e.owners for e in self._entries.values())) if self._entries else set()

    def _drop(self, victims: list[_Entry]) -> None:
        for victim in victims:  # outside the lock: the callbacks take their caches' own locks
            self.evictions += 1
            victim.evict()


def nbytes_of(value, _depth: int = 0) -> int:
    """Bytes held by a result: numpy arrays, tensors and DataFrames inside dataclasses, dicts, lists, tuples.

    >>> nbytes_of({"a": np.zeros((10, 10)), "b": [np.zeros(5, dtype=np.float32)]}) >= 820
    True
    """
    if _depth > 6 or value is None:
        return 0
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # a torch tensor (torch not imported)
        return int(value.element_size() * value.nelement())
    if hasattr(value, "memory_usage") and hasattr(value, "columns"):  # a pandas DataFrame
        return int(value.memory_usage(deep=True).sum())
    if isinstance(value, (str, bytes)):
        return len(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sys.getsizeof(value) + sum(nbytes_of(getattr(value, f.name), _depth + 1)
                                          for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(nbytes_of(k, _depth + 1) + nbytes_of(v, _depth + 1)
                                          for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sys.getsizeof(value) + sum(nbytes_of(v, _depth + 1) for v in value)
    return sys.getsizeof(value)
