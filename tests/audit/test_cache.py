"""The per-example cache: instant re-runs, resume after cancel, keys that change with the settings."""

import threading

import numpy as np
import pandas as pd

from attnviz.audit import AuditSettings, prepare_dataset, run_audit
from attnviz.audit import run as run_module

TEXTS = ["Bright music under the open city.", "Seven dogs walked.", "Never a storm in winter.",
         "The engineer sings quietly because the paper is heavy.", "Green table.", "A river."]
SETTINGS = AuditSettings(methods=("saliency",), faithfulness=False, batch_size=2)


def dataset():
    return prepare_dataset(pd.DataFrame({"text": TEXTS}))


def count_batches(monkeypatch):
    calls = []
    original = run_module._Engine.run

    def counting(self, items):
        calls.append(len(items))
        return original(self, items)

    monkeypatch.setattr(run_module._Engine, "run", counting)
    return calls


def test_rerun_comes_from_the_cache(default_handle, tmp_path, monkeypatch):
    first = run_audit(default_handle, dataset(), SETTINGS, cache_dir=tmp_path)
    calls = count_batches(monkeypatch)
    second = run_audit(default_handle, dataset(), SETTINGS, cache_dir=tmp_path)
    assert calls == [] and second.cache_hits == len(TEXTS)
    assert all(ex.from_cache for ex in second.examples)
    for a, b in zip(first.examples, second.examples):
        assert a.text == b.text and a.tokens == b.tokens and a.predicted == b.predicted
        np.testing.assert_allclose(a.scores["saliency"], b.scores["saliency"], rtol=1e-6)
        np.testing.assert_allclose(a.head_stats, b.head_stats, rtol=1e-6)
    # other settings, other model or other text: recomputed
    run_audit(default_handle, dataset(), AuditSettings(methods=("input_x_gradient",), faithfulness=False),
              cache_dir=tmp_path)
    assert sum(calls) == len(TEXTS)


def test_cancel_stops_after_a_batch_and_the_next_run_resumes(default_handle, tmp_path, monkeypatch):
    cancel = threading.Event()
    seen = []

    def progress(done, total, message):
        seen.append(done)
        if done >= 2:
            cancel.set()

    partial = run_audit(default_handle, dataset(), SETTINGS, cache_dir=tmp_path, progress=progress, cancel=cancel)
    assert partial.cancelled and len(partial.examples) == 2 and partial.total == len(TEXTS)
    assert seen == [0, 2]
    calls = count_batches(monkeypatch)
    resumed = run_audit(default_handle, dataset(), SETTINGS, cache_dir=tmp_path)
    assert not resumed.cancelled and resumed.cache_hits == 2 and len(resumed.examples) == len(TEXTS)
    assert sum(calls) == len(TEXTS) - 2
    assert [ex.text for ex in resumed.examples] == TEXTS


def test_a_callable_cancels_too_and_a_damaged_entry_is_recomputed(default_handle, tmp_path):
    nothing = run_audit(default_handle, dataset(), SETTINGS, cache_dir=tmp_path, cancel=lambda: True)
    assert nothing.cancelled and nothing.examples == ()
    run_audit(default_handle, dataset(), SETTINGS, cache_dir=tmp_path)
    entries = sorted(tmp_path.rglob("*.json"))
    assert len(entries) == len(TEXTS)
    entries[0].write_text("{not json", encoding="utf-8")
    again = run_audit(default_handle, dataset(), SETTINGS, cache_dir=tmp_path)
    assert again.cache_hits == len(TEXTS) - 1 and len(again.ok) == len(TEXTS)


def test_memory_holds_summaries_not_attention_maps(default_handle):
    result = run_audit(default_handle, dataset(), SETTINGS, cache_dir=None)
    for ex in result.examples:
        arrays = [v for v in vars(ex).values() if isinstance(v, np.ndarray)]
        assert sum(a.size for a in arrays) <= default_handle.num_layers * default_handle.num_heads * 9 + len(ex.tokens)
