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
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..attention import attention_rollout, head_statistics, readout_scores
from ..attribution import Attribution
from ..attribution import run as run_method
from ..attribution.context import prepare as prepare_input
from ..attribution.evaluate import evaluate
from ..errors import AttnvizError, InputError
from ..models.targets import (
    ClassTarget,
    ZeroShotTarget,
    _hidden,
    bind,
    default_target,
    label_embeddings,
    mean_pool,
)
from .cache import ResultCache, default_cache_dir
from .dataset import Dataset, slice_key
from .provenance import model_fingerprint, provenance
from .results import STAT_NAMES, AuditResult, AuditSettings, ExampleResult

__all__ = ["BATCHED_METHODS", "STAT_NAMES", "AuditResult", "AuditSettings", "ExampleResult", "default_cache_dir",
           "model_fingerprint", "run_audit"]

#: Methods computed over a whole padded batch; the others run per example through the registry.
BATCHED_METHODS = ("integrated_gradients", "saliency", "input_x_gradient")
CACHE_FORMAT = 1
#: Rows (examples × IG steps) per forward/backward pass of batched Integrated Gradients: 64 (4 examples ×
#: 16 steps) was about twice as fast per example as 256 on 2 CPU cores (activations stay in cache).
IG_ROWS = 64

Progress = Callable[[int, int, str], None]


# ------------------------------------------------------------------ the run
class _Cancelled(Exception):
    pass


def _is_set(cancel) -> bool:
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
                results[i] = _with_row(replace(cached, from_cache=True), frame, i, dataset.slice_columns)
                hits += 1
    done = hits
    report(done, total, f"{hits} of {total} examples from the cache" if hits else f"0 of {total} examples")
    todo = sorted((i for i in range(total) if results[i] is None), key=lambda i: len(texts[i]) + len(pairs[i] or ""))
    cancelled = False
    engine = _Engine(handle, target, settings, cancel) if todo else None
    for start in range(0, len(todo), settings.batch_size):
        if _is_set(cancel):
            cancelled = True
            break
        batch = todo[start:start + settings.batch_size]
        try:
            computed = engine.run([(texts[i], pairs[i]) for i in batch])
        except _Cancelled:
            cancelled = True
            break
        for i, result in zip(batch, computed):
            result = _with_row(result, frame, i, dataset.slice_columns)
            results[i] = result
            if cache is not None and result.status == "ok":
                cache.put(keys[i], result)
        done += len(batch)
        report(done, total, f"{done} of {total} examples")
    finished = tuple(r for r in results if r is not None)
    bias = {}
    if settings.bias_axes and not cancelled and not _is_set(cancel):
        report(done, total, "bias probe …")
        bias = bias_summary(handle, target, settings)
    label_names = engine.label_names if engine is not None and engine.label_names else _labels_seen(finished)
    prov.update({"started_utc": started_utc, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "seconds": round(time.perf_counter() - started, 3), "cache_hits": hits,
                 "cache_dir": str(cache.root) if cache is not None else None})
    return AuditResult(finished, settings.to_dict(target), prov, dataset.describe(), total, handle.num_layers,
                       handle.num_heads, tuple(label_names), tuple(dataset.slice_columns), cancelled, hits, bias)


def _check_bias_axes(axes) -> None:
    from ..bias import assets

    known = sorted(set(assets.load("terms")["axis"]))
    unknown = [a for a in axes if a not in known]
    if unknown:
        raise InputError(f"Unknown bias axis {', '.join(unknown)}: use {', '.join(known)}.")


def bias_summary(handle, target, settings: AuditSettings) -> dict:
    """The counterfactual identity-swap probe (:func:`attnviz.bias.counterfactual`, shipped templates,
    outputs only) on the audit's target: CTF gap per axis and mean f per group, with bootstrap intervals."""
    from ..bias import counterfactual

    probe = counterfactual(handle, target=target, axes=list(settings.bias_axes), method=None, attention=False,
                           seed=settings.seed)
    return {"target": probe.target, "sentences": len(probe.fills),
            "axes": probe.axes.to_dict("records"), "groups": probe.groups.to_dict("records")}


def _labels_seen(examples) -> list[str]:
    names: dict[str, None] = {}
    for ex in examples:
        names.update(dict.fromkeys(ex.probabilities))
    return list(names)


def _with_row(result: ExampleResult, frame: pd.DataFrame, i: int, slice_columns) -> ExampleResult:
    row = frame.iloc[i]
    return replace(result, index=int(row["index"]), gold=row["label"], slices={c: row[slice_key(c)] for c in slice_columns})


# ------------------------------------------------------------------ batched scoring
@dataclass
class _BatchTarget:
    """f for a whole batch with a per-row class index: the target's label probabilities and the explained
    output (same formulas as :mod:`attnviz.models.targets`)."""

    names: list[str]
    probabilities: Callable  # (outputs, mask) -> [b, C]
    value: Callable  # (outputs, mask, index[b]) -> [b]
    fixed: int | None  # a label the user chose, else None (explain each row's prediction)


def _batch_target(handle, target) -> _BatchTarget | None:
    if isinstance(target, ZeroShotTarget) and len(target.labels) >= 2:
        anchors = label_embeddings(handle, target.labels)
        names = [name for name, _ in target.labels]
        tau, output = float(target.temperature), target.output

        def sims(outputs, mask):
            return mean_pool(_hidden(outputs), mask).float() @ anchors.T

        def value(outputs, mask, index):
            z = sims(outputs, mask)
            rows = torch.arange(z.shape[0], device=z.device)
            if output == "similarity":
                return z[rows, index]
            logp = torch.log_softmax(z / tau, dim=-1)[rows, index]
            return logp if output == "log_probability" else logp.exp()

        fixed = None if target.label is None else (names.index(target.label) if target.label in names else -1)
        if fixed == -1 or tau <= 0:
            return None  # let bind() raise its message
        return _BatchTarget(names, lambda o, m: torch.softmax(sims(o, m) / tau, -1), value, fixed)
    if isinstance(target, ClassTarget) and type(handle.model).__name__.endswith("ForSequenceClassification"):
        id2label = getattr(handle.config, "id2label", None) or {}
        count = int(getattr(handle.config, "num_labels", len(id2label)) or len(id2label))
        names = [str(id2label.get(i, f"LABEL_{i}")) for i in range(count)]
        output = target.output

        def value(outputs, mask, index):
            logits = outputs.logits
            rows = torch.arange(logits.shape[0], device=logits.device)
            if output == "logit":
                return logits[rows, index]
            logp = torch.log_softmax(logits.float(), -1)[rows, index]
            return logp if output == "log_probability" else logp.exp()

        fixed = None
        if target.label is not None:
            if isinstance(target.label, int) and 0 <= target.label < count:
                fixed = target.label
            elif target.label in names:
                fixed = names.index(target.label)
            else:
                return None
        return _BatchTarget(names, lambda o, m: torch.softmax(o.logits.float(), -1), value, fixed)
    return None


class _Engine:
    def __init__(self, handle, target, settings: AuditSettings, cancel):
        self.handle, self.target, self.settings, self.cancel = handle, target, settings, cancel
        self.batched = _batch_target(handle, target)
        self.label_names = list(self.batched.names) if self.batched else []
        self.descriptions: dict[int, str] = {}
        self.max_length = handle.sentence_max_length if handle.pooling else None

    # ---------------------------------------------------------------- helpers
    def _description(self, index: int, encoding) -> str:
        """The target's text for a label, exactly as bind() writes it (bound once per label)."""
        if index not in self.descriptions:
            label = self.batched.names[index] if isinstance(self.target, ZeroShotTarget) else index
            self.descriptions[index] = bind(self.handle, replace(self.target, label=label), encoding).description
        return self.descriptions[index]

    def _pad(self, encodings) -> dict:
        from ..bias.batching import pad_id

        width = max(len(e) for e in encodings)
        device = self.handle.device
        ids = torch.full((len(encodings), width), pad_id(self.handle), dtype=torch.long, device=device)
        mask = torch.zeros((len(encodings), width), dtype=torch.long, device=device)
        has_tt = all("token_type_ids" in e.inputs for e in encodings)
        tt = torch.zeros((len(encodings), width), dtype=torch.long, device=device) if has_tt else None
        for row, enc in enumerate(encodings):
            n = len(enc)
            ids[row, :n] = enc.inputs["input_ids"][0]
            mask[row, :n] = enc.inputs["attention_mask"][0]
            if tt is not None:
                tt[row, :n] = enc.inputs["token_type_ids"][0]
        out = {"input_ids": ids, "attention_mask": mask}
        if tt is not None:
            out["token_type_ids"] = tt
        return out

    def _check_cancel(self):
        if _is_set(self.cancel):
            raise _Cancelled

    # ---------------------------------------------------------------- one batch
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
        inputs = self._pad(encodings)
        mask = inputs["attention_mask"]
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
        # predictions: batched where the target allows it, else bound per example
        contexts: dict[int, object] = {}
        if self.batched is not None:
            with torch.inference_mode():
                probs = self.batched.probabilities(outputs, mask).float().cpu()
                index = probs.argmax(-1) if self.batched.fixed is None else torch.full(
                    (len(encodings),), self.batched.fixed, dtype=torch.long)
                values = self.batched.value(outputs, mask, index.to(mask.device)).float().cpu()
            index = index.clone()  # a normal tensor: inference tensors cannot enter autograd below
            for j, enc in enumerate(encodings):
                k = int(index[j])
                out[j].update(predicted=self.batched.names[k], target=self._description(k, enc),
                              output=float(values[j]),
                              probabilities={n: float(p) for n, p in zip(self.batched.names, probs[j].tolist())})
        else:
            for j, (text, pair) in enumerate(items):
                self._check_cancel()
                ctx = prepare_input(handle, text, pair, self.target)
                contexts[j] = ctx
                out[j].update(predicted=ctx.scorer.label, target=ctx.scorer.description, output=ctx.output(),
                              probabilities=dict(ctx.scorer.label_probabilities))
        del outputs
        # attributions
        batched_methods = [m for m in settings.methods if m in BATCHED_METHODS] if self.batched else []
        if batched_methods:
            self._batched_attributions(inputs, index, batched_methods, out, encodings)
        for method in settings.methods:
            if method in batched_methods:
                continue
            for j, (text, pair) in enumerate(items):
                self._check_cancel()
                if j not in contexts:
                    contexts[j] = prepare_input(handle, text, pair, self.target)
                attribution = run_method(contexts[j], method)
                out[j]["scores"][method] = attribution.scores
                if attribution.delta is not None:
                    out[j]["deltas"][method] = float(attribution.delta)
        for j in out:  # the user's method order (batched methods were filled first)
            out[j]["scores"] = {m: out[j]["scores"][m] for m in settings.methods if m in out[j]["scores"]}
        # agreement and faithfulness, per example (each deletes tokens from its own input)
        if settings.methods and (settings.faithfulness or len(settings.methods) > 1):
            for j, (text, pair) in enumerate(items):
                self._check_cancel()
                self._evaluate(text, pair, out[j])
        return out

    def _batched_attributions(self, inputs, index, methods, out, encodings):
        from captum.attr import IntegratedGradients

        handle = self.handle
        model = handle.model
        embedding = model.get_input_embeddings()
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        extra = (inputs["token_type_ids"],) if "token_type_ids" in inputs else ()
        index = index.to(ids.device)
        value = self.batched.value

        def forward(embeds, attention_mask, rows_index, *token_types):
            kwargs = {"inputs_embeds": embeds, "attention_mask": attention_mask}
            if token_types:
                kwargs["token_type_ids"] = token_types[0]
            return value(model(**kwargs), attention_mask, rows_index)

        with torch.no_grad():
            embeds = embedding(ids).detach()
        n_rows = len(encodings)
        if "saliency" in methods or "input_x_gradient" in methods:
            with torch.enable_grad():
                x = embeds.clone().requires_grad_(True)
                f = forward(x, mask, index, *extra)
                grad = torch.autograd.grad(f.sum(), x)[0]
            if "saliency" in methods:
                sal = grad.norm(dim=-1).float().cpu().numpy()
                for j, enc in enumerate(encodings):
                    out[j]["scores"]["saliency"] = sal[j, :len(enc)].astype(np.float32)
            if "input_x_gradient" in methods:
                ixg = (x.detach() * grad).sum(-1).float().cpu().numpy()
                for j, enc in enumerate(encodings):
                    out[j]["scores"]["input_x_gradient"] = ixg[j, :len(enc)].astype(np.float32)
        if "integrated_gradients" in methods:
            special = torch.zeros_like(ids, dtype=torch.bool)
            for j, enc in enumerate(encodings):
                for p, kind in enumerate(enc.kinds):
                    special[j, p] = kind in ("cls", "sep", "special")
            base_ids = ids.clone()
            base_ids[~special & mask.bool()] = _replacement_id(handle)
            with torch.no_grad():
                base = embedding(base_ids)
            steps = self.settings.n_steps
            with torch.enable_grad():
                attr, delta = IntegratedGradients(forward).attribute(
                    embeds, baselines=base, additional_forward_args=(mask, index, *extra), n_steps=steps,
                    method="gausslegendre", internal_batch_size=max(n_rows, IG_ROWS // n_rows * n_rows),
                    return_convergence_delta=True)
            phi = attr.sum(-1).detach().float().cpu().numpy()
            delta = delta.detach().float().cpu().numpy()
            for j, enc in enumerate(encodings):
                out[j]["scores"]["integrated_gradients"] = phi[j, :len(enc)].astype(np.float32)
                out[j]["deltas"]["integrated_gradients"] = float(delta[j])

    def _evaluate(self, text, pair, out: dict):
        attributions = {m: Attribution(tokens=out["tokens"], scores=np.asarray(s, dtype=np.float32), method=m,
                                       target=out["target"], label=out["predicted"], output=out["output"],
                                       kinds=out["kinds"], words=out["words"])
                        for m, s in out["scores"].items()}
        settings = self.settings
        target = self.target
        if self.batched is not None and self.batched.fixed is None:
            # explain the same label the batch predicted (ties or float noise cannot flip it)
            label = out["predicted"] if isinstance(target, ZeroShotTarget) else self.batched.names.index(out["predicted"])
            target = replace(target, label=label)
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


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else value


def _replacement_id(handle) -> int:
    tok = handle.tokenizer
    for cand in (tok.pad_token_id, tok.mask_token_id, tok.unk_token_id, tok.eos_token_id):
        if cand is not None:
            return int(cand)
    return 0
