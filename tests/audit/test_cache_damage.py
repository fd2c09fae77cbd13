"""Recovery: a damaged audit cache entry (cut short by a crash, garbage bytes, valid JSON of the wrong shape) is
detected when read and recomputed, and the rebuilt entry replaces it; the audit's results are those of a clean run."""

from __future__ import annotations

import pandas as pd
import pytest

from attnviz.audit import AuditSettings, prepare_dataset, run_audit
from attnviz.audit.cache import ResultCache

TEXTS = ["Bright music under the open city.", "Seven dogs walked."]
SETTINGS = AuditSettings(methods=("saliency",), faithfulness=False, batch_size=2)


@pytest.fixture(scope="module")
def clean(default_handle, tmp_path_factory):
    """A filled cache and the entries' text as first written."""
    root = tmp_path_factory.mktemp("audit-cache")
    result = run_audit(default_handle, prepare_dataset(pd.DataFrame({"text": TEXTS})), SETTINGS, cache_dir=root)
    return root, {path: path.read_bytes() for path in sorted(root.rglob("*.json"))}, result


def _damages(good: bytes) -> dict[str, bytes]:
    return {"cut in half (a partly written file)": good[: len(good) // 2], "empty": b"",
            "garbage bytes": b"\xff\xfe\x00\x81garbage", "JSON null": b"null", "a JSON list": b"[]",
            "an object without fields": b"{}", "a field renamed": good.replace(b'"tokens"', b'"tokenz"', 1)}


@pytest.mark.parametrize("kind", list(_damages(b"{}")))
def test_a_damaged_entry_is_not_trusted_and_is_rebuilt(default_handle, clean, kind):
    root, entries, first = clean
    for path, data in entries.items():  # every entry back to its clean text (the cases share the cache)
        path.write_bytes(data)
    damaged = next(iter(entries))
    damaged.write_bytes(_damages(entries[damaged])[kind])
    assert ResultCache(root).get(damaged.stem) is None  # detected on read, not returned
    again = run_audit(default_handle, prepare_dataset(pd.DataFrame({"text": TEXTS})), SETTINGS, cache_dir=root)
    assert again.cache_hits == len(TEXTS) - 1 and len(again.ok) == len(TEXTS)
    assert [ex.text for ex in again.examples] == TEXTS
    for new, old in zip(again.examples, first.examples, strict=True):
        assert new.tokens == old.tokens
    rebuilt = ResultCache(root).get(damaged.stem)
    assert rebuilt is not None and rebuilt.text in TEXTS  # the recomputed result replaced the damaged file
