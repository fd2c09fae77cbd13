"""Memory budgets over Streamlit's caches: results and loaded models, least recently used out first.

``st.cache_data``/``st.cache_resource`` bound their entries by count only; :func:`budgeted` stacks on top of
one and, after each call, records the value's bytes (:func:`attnviz.budget.nbytes_of`) against a
:class:`attnviz.budget.ByteBudget`. Over the budget the oldest entries are cleared from their cache
(``cached_fn.clear(*args)``). Results used only by sessions that have ended are cleared too (checked at
most every ``_SWEEP_SECONDS``, against Streamlit's list of live sessions).
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable

from attnviz.budget import ByteBudget, nbytes_of
from attnviz.operator import cache_bytes

from .jobs import session_owner

RESULTS = ByteBudget(cache_bytes("results"))
MODELS = ByteBudget(cache_bytes("models"))
_SWEEP_SECONDS = 10.0
_last_sweep = [0.0]
_sweep_lock = threading.Lock()


def model_nbytes(handle) -> int:
    """Bytes of a loaded model's weights and buffers."""
    model = handle.model
    return sum(t.element_size() * t.nelement() for t in [*model.parameters(), *model.buffers()])


def budgeted(budget: ByteBudget, size: Callable[[object], int] = nbytes_of, *, per_session: bool = True):
    """Decorate a Streamlit-cached function (put it above ``@st.cache_data``): its entries count against
    ``budget``. ``per_session``: an entry is freed once every session that used it has ended.

    Parameters whose names start with ``_`` are not part of the key (as in Streamlit) and are not kept.
    """

    def wrap(cached_fn):
        signature = inspect.signature(cached_fn)

        @functools.wraps(cached_fn)
        def call(*args, **kwargs):
            value = cached_fn(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            kept = {k: (None if k.startswith("_") else v) for k, v in bound.arguments.items()}
            try:
                key = (cached_fn.__qualname__, *kept.items())
                hash(key)
            except TypeError:  # an unhashable setting (a DataFrame): not budgeted, the count bound still holds
                return value
            budget.record(key, size(value), owner=session_owner(),
                          evict=lambda: cached_fn.clear(**kept))
            if per_session:
                _sweep_ended_sessions(budget)
            return value

        call.clear = cached_fn.clear
        return call

    return wrap


def _sweep_ended_sessions(budget: ByteBudget) -> None:
    now = time.monotonic()
    with _sweep_lock:
        if now - _last_sweep[0] < _SWEEP_SECONDS:
            return
        _last_sweep[0] = now
    try:
        from streamlit.runtime import Runtime

        runtime = Runtime.instance()
        ended = {owner for owner in budget.owners()
                 if not owner.startswith("thread-") and runtime.get_app_session(owner) is None}
    except Exception:  # noqa: BLE001 - no runtime (AppTest, a script): nothing to sweep
        return
    budget.forget_owners(ended)
