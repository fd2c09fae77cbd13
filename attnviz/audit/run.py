"""Batch runs: the model output, attributions, attention summaries and head statistics of every example.

Examples are sorted by length and sent through the model in right-padded batches: one forward with
attention capture gives every example's attention and prediction; Integrated Gradients, saliency and
input × gradient run over the whole batch at once (each row's f depends on its own row only). Other
methods go through the attribution registry one example at a time.

Only per-example *summaries* are kept (head statistics [layers, heads, stats], rollout readout and
scores per token, a few numbers), never the full [layers, heads, n, n] arrays, so memory grows with
the number of examples by those summaries only (bench: ~50 kB each). Every finished example is written to an on-disk cache
keyed by the model's weights hash, the settings and the text: a re-run is instant and a cancelled run
resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..attention import attention_rollout, head_statistics, readout_scores
from ..attribution import Attribution, attribute_batch
from ..attribution.evaluate import evaluate
from ..bias import assets as bias_assets
from ..bias import counterfactual
from ..errors import AttnvizError, InputError
from ..models.encoding import pad_batch, pad_token_id
from ..models.targets import default_target, label_head
from .cache import ResultCache, default_cache_dir
from .dataset import Dataset, slice_key
from .provenance import model_fingerprint, provenance
from .results import STAT_NAMES, AuditResult, AuditSettings, ExampleResult

__all__ = ["STAT_NAMES", "AuditResult", "AuditSettings", "ExampleResult", "default_cache_dir", "model_fingerprint",
           "run_audit"]

CACHE_FORMAT = 1

Progress = Callable[[int, int, str], None]


# ------------------------------------------------------------------ the run
class _Cancelled(Exception):
    pass


def is_set(cancel) -> bool:
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def run_audit(handle, dataset: Dataset, settings: AuditSettings | None = None, *,
              cache_dir: str | Path | None | bool = True, progress: Progress | None = None,
              cancel: threading.Event | Callable[[], bool] | None = None) -> AuditResult:
    """Audit every example of ``dataset`` with ``handle``.

    Args:
        handle: a loaded model (encoder or decoder; encoder-decoders are not supported).
        dataset: from :func:`attnviz.audit.load_dataset`.
        settings: methods, target and their settings (default: Integrated Gradients on the default target).
        cache_dir: where per-example results are kept (True: :func:`default_cache_dir`; None/False: no cache).
        progress: called as ``progress(done, total, message)`` after every batch.
        cancel: a ``threading.Event`` (or a function returning True) that stops the run after the current
            batch; what finished is cached, so the next run resumes.

    Returns:
        AuditResult with the finished examples in dataset order (``cancelled`` says whether it stopped early).

    Example:
        >>> result = run_audit(attnviz.load_model(), load_dataset("reviews", label_column="label"))
        >>> result.to_dataframe()[["text", "predicted", "correct"]]
    """
    settings = settings or AuditSettings()
    if handle.kind == "encoder-decoder":
        raise InputError("Audits run on encoders and decoders; encoder-decoder models are not supported yet.")
    started = time.perf_counter()
    started_utc = datetime.now(timezone.utc).isoformat(timespec="seconds")
    target = settings.target if settings.target is not None else default_target(handle)
    if settings.bias_axes:
        _check_bias_axes(settings.bias_axes)
    report = progress or (lambda done, total, message: None)
    cache = None
    if cache_dir:
        cache = ResultCache(default_cache_dir() if cache_dir is True else cache_dir)
    prov = provenance(handle, settings, target)
    base_key = json.dumps({"format": CACHE_FORMAT, "model": prov["model"]["weights_sha256"],
                           "name": handle.name, "settings": settings.result_key(target)}, sort_keys=True)
    frame = dataset.frame
    total = len(frame)
    texts = frame["text"].tolist()
    pairs = frame["text_pair"].tolist()
    keys = [hashlib.sha256("\0".join((base_key, t, p or "")).encode()).hexdigest() for t, p in zip(texts, pairs)]
    results: list[ExampleResult | None] = [None] * total
    hits = 0
    if cache is not None:
        for i, key in enumerate(keys):
            cached = cache.get(key)
            if cached is not None:
                results[i] = with_row(replace(cached, from_cache=True), frame, i, dataset.slice_columns)
                hits += 1
    done = hits
    report(done, total, f"{hits} of {total} examples from the cache" if hits else f"0 of {total} examples")
    todo = sorted((i for i in range(total) if results[i] is None), key=lambda i: len(texts[i]) + len(pairs[i] or ""))
    cancelled = False
    engine = BatchEngine(handle, target, settings, cancel) if todo else None
    for start in range(0, len(todo), settings.batch_size):
        if is_set(cancel):
            cancelled = True
            break
        batch = todo[start:start + settings.batch_size]
        try:
            computed = engine.run([(texts[i], pairs[i]) for i in batch])
        except _Cancelled:
            cancelled = True
            break
        for i, result in zip(batch, computed):
            result = with_row(result, frame, i, dataset.slice_columns)
            results[i] = result
            if cache is not None and result.status == "ok":
                cache.put(keys[i], result)
        done += len(batch)
        report(done, total, f"{done} of {total} examples")
    finished = tuple(r for r in results if r is not None)
    bias = {}
    if settings.bias_axes and not cancelled and not is_set(cancel):
        report(done, total, "bias probe …")
        bias = bias_summary(handle, target, settings)
    label_names = engine.label_names if engine is not None and engine.label_names else labels_seen(finished)
    prov.update({"started_utc": started_utc, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "seconds": round(time.perf_counter() - started, 3), "cache_hits": hits,
                 "cache_dir": str(cache.root) if cache is not None else None})
    return AuditResult(finished, settings.to_dict(target), prov, dataset.describe(), total, handle.num_layers,
                       handle.num_heads, tuple(label_names), tuple(dataset.slice_columns), cancelled, hits, bias)


def _check_bias_axes(axes) -> None:
    known = sorted(set(bias_assets.load("terms")["axis"]))
    unknown = [a for a in axes if a not in known]
    if unknown:
        raise InputError(f"Unknown bias axis {', '.join(unknown)}: use {', '.join(known)}.")


def bias_summary(handle, target, settings: AuditSettings) -> dict:
    """The counterfactual identity-swap probe (:func:`attnviz.bias.counterfactual`, shipped templates,
    outputs only) on the audit's target: CTF gap per axis and mean f per group, with bootstrap intervals."""
    probe = counterfactual(handle, target=target, axes=list(settings.bias_axes), method=None, attention=False,
                           seed=settings.seed)
    return {"target": probe.target, "sentences": len(probe.fills),
            "axes": probe.axes.to_dict("records"), "groups": probe.groups.to_dict("records")}


def labels_seen(examples) -> list[str]:
    names: dict[str, None] = {}
    for ex in examples:
        names.update(dict.fromkeys(ex.probabilities))
    return list(names)


def with_row(result: ExampleResult, frame: pd.DataFrame, i: int, slice_columns) -> ExampleResult:
    """``result`` with the row ``i`` of a prepared frame's index (file row), gold label and slices."""
    row = frame.iloc[i]
    return replace(result, index=int(row["index"]), gold=row["label"], slices={c: row[slice_key(c)] for c in slice_columns})


# ------------------------------------------------------------------ one batch
class BatchEngine:
    """One batch at a time: attention summaries from one forward, predictions and attributions from
    :func:`attnviz.attribution.attribute_batch`, then agreement and faithfulness per example."""

    def __init__(self, handle, target, settings: AuditSettings, cancel):
        self.handle, self.target, self.settings, self.cancel = handle, target, settings, cancel
        try:
            head = label_head(handle, target)
        except AttnvizError:  # each example reports the message
            head = None
        self.label_names: list[str] = list(head.names) if head is not None else []
        self.max_length = handle.sentence_max_length if handle.pooling else None

    def _check_cancel(self):
        if is_set(self.cancel):
            raise _Cancelled

    def run(self, items: list[tuple[str, str | None]]) -> list[ExampleResult]:
        started = time.perf_counter()
        encodings, errors = [], {}
        for j, (text, pair) in enumerate(items):
            try:
                encodings.append(self.handle.encode(text, pair, max_length=self.max_length))
            except AttnvizError as exc:
                encodings.append(None)
                errors[j] = str(exc)
        rows = [j for j, e in enumerate(encodings) if e is not None]
        partial: dict[int, dict] = {}
        if rows:
            try:
                partial = self._run_encoded([items[j] for j in rows], [encodings[j] for j in rows])
                partial = {rows[k]: v for k, v in partial.items()}
            except _Cancelled:
                raise
            except AttnvizError as exc:
                if len(rows) == 1:
                    errors[rows[0]] = str(exc)
                else:  # find the example that fails; the others still count
                    for j in rows:
                        try:
                            partial[j] = self._run_encoded([items[j]], [encodings[j]])[0]
                        except AttnvizError as inner:
                            errors[j] = str(inner)
        seconds = (time.perf_counter() - started) / max(1, len(items))
        out = []
        for j, (text, pair) in enumerate(items):
            if j in errors:
                out.append(ExampleResult(index=j, text=text, text_pair=pair, status="error", error=errors[j],
                                         seconds=seconds))
            else:
                out.append(ExampleResult(index=j, text=text, text_pair=pair, seconds=seconds, **partial[j]))
        return out

    def _run_encoded(self, items, encodings) -> dict[int, dict]:
        handle, settings = self.handle, self.settings
        inputs = pad_batch([enc.inputs for enc in encodings], handle.device, pad_token_id(handle.tokenizer))
        outputs, records = handle.forward(inputs, capture_sites=lambda s: s.stack == "self")
        layers = sorted(records, key=lambda s: s.layer)
        weights = torch.stack([records[s] for s in layers]).float().cpu().numpy()  # [L, b, H, w, w]
        del records
        out: dict[int, dict] = {}
        for j, enc in enumerate(encodings):
            n = len(enc)
            att = weights[:, j, :, :n, :n]
            stats = head_statistics(att, enc.kinds)
            head_stats = stats[list(STAT_NAMES)].to_numpy(np.float32).reshape(att.shape[0], att.shape[1], -1)
            out[j] = {"tokens": enc.tokens, "kinds": enc.kinds, "words": enc.words, "truncated": enc.truncated,
                      "head_stats": head_stats,
                      "rollout": readout_scores(attention_rollout(att), handle.readout).astype(np.float32),
                      "scores": {}, "deltas": {}}
        del weights
        explained = attribute_batch(
            handle, encodings, self.target, settings.methods, model_outputs=outputs, check=self._check_cancel,
            settings={"integrated_gradients": {"n_steps": settings.n_steps}})
        del outputs
        for j, ex in enumerate(explained):
            out[j].update(predicted=ex.predicted, target=ex.target, output=ex.output,
                          probabilities=dict(ex.probabilities))
            for method, result in ex.outputs.items():
                out[j]["scores"][method] = np.asarray(result.scores, dtype=np.float32)
                if result.delta is not None:
                    out[j]["deltas"][method] = float(result.delta)
        # agreement and faithfulness, per example (each deletes tokens from its own input)
        if settings.methods and (settings.faithfulness or len(settings.methods) > 1):
            for j, (text, pair) in enumerate(items):
                self._check_cancel()
                self._evaluate(text, pair, out[j], explained[j].explained)
        return out

    def _evaluate(self, text, pair, out: dict, target):
        """``target`` has the label each example explained fixed (ties or float noise cannot flip it)."""
        attributions = {m: Attribution(tokens=out["tokens"], scores=np.asarray(s, dtype=np.float32), method=m,
                                       target=out["target"], label=out["predicted"], output=out["output"],
                                       kinds=out["kinds"], words=out["words"])
                        for m, s in out["scores"].items()}
        settings = self.settings
        try:
            ev = evaluate(self.handle, attributions, text, pair, target=target, level=settings.level,
                          faithfulness=settings.faithfulness, repeats=settings.repeats, seed=settings.seed)
        except AttnvizError:
            return
        metrics = ("spearman", "kendall", "feature_agreement", "rank_agreement", "sign_agreement")
        out["agreement"] = {f"{r['method_a']}|{r['method_b']}": {m: _num(r.get(m)) for m in metrics}
                            for r in ev.agreement.to_dict("records")}
        if settings.faithfulness:
            faith = {}
            for method, er in ev.eraser.items():
                curve = ev.curves.get(method, {})
                faith[method] = {"comprehensiveness": _num(er["aopc_comprehensiveness"]),
                                 "sufficiency": _num(er["aopc_sufficiency"]),
                                 "deletion_auc": _num(curve.get("deletion_auc")),
                                 "insertion_auc": _num(curve.get("insertion_auc"))}
            if ev.random_eraser:
                faith["random"] = {"comprehensiveness": _num(ev.random_eraser["mean"]["aopc_comprehensiveness"]),
                                   "sufficiency": _num(ev.random_eraser["mean"]["aopc_sufficiency"]),
                                   "deletion_auc": _num(ev.random_curves.get("mean", {}).get("deletion_auc")),
                                   "insertion_auc": _num(ev.random_curves.get("mean", {}).get("insertion_auc"))}
            out["faithfulness"] = faith


_Engine = BatchEngine  # the name tests patch


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else value
