"""Batch runs: the model output, attributions, attention summaries and head statistics of every example.

Examples are sorted by length and sent through the model in right-padded batches: one forward with
attention capture gives every example's attention and prediction; Integrated Gradients, saliency and
input × gradient run over the whole batch at once (each row's f depends on its own row only). Other
methods go through the attribution registry one example at a time.

Only per-example *summaries* are kept (head statistics [layers, heads, stats], rollout readout and
scores per token, a few numbers), never the full [layers, heads, n, n] arrays, so memory grows with
the number of examples by a few kilobytes each. Every finished example is written to an on-disk cache
keyed by the model's weights hash, the settings and the text: a re-run is instant and a cancelled run
resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..attention import HEAD_STAT_COLUMNS, attention_rollout, head_statistics, readout_scores
from ..attribution import METHODS, Attribution
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
from .dataset import Dataset

#: Methods computed over a whole padded batch; the others run per example through the registry.
BATCHED_METHODS = ("integrated_gradients", "saliency", "input_x_gradient")
STAT_NAMES = tuple(HEAD_STAT_COLUMNS)
CACHE_FORMAT = 1
#: Rows (examples × IG steps) per forward/backward pass of batched Integrated Gradients.
IG_ROWS = 256

Progress = Callable[[int, int, str], None]


def default_cache_dir() -> Path:
    """``$ATTNVIZ_CACHE_DIR``, else ``$XDG_CACHE_HOME/attnviz/audit`` (``~/.cache/attnviz/audit``)."""
    if os.environ.get("ATTNVIZ_CACHE_DIR"):
        return Path(os.environ["ATTNVIZ_CACHE_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "attnviz" / "audit"


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class AuditSettings:
    """Everything that changes an audit's per-example results (it keys the cache).

    Args:
        methods: attribution methods (see ``attnviz.attribution.METHODS``); may be empty.
        target: what is explained (None: the model's default, e.g. the zero-shot sentiment label).
        n_steps: Integrated Gradients steps (Gauss-Legendre), baseline = pad tokens, specials kept.
        faithfulness: ERASER comprehensiveness/sufficiency and deletion/insertion AUC per example.
        repeats: random rankings drawn for the faithfulness baseline.
        level: "word" (subwords summed) or "token" units for agreement and faithfulness.
        batch_size: examples per padded forward pass.
        seed: seed of the random faithfulness baseline and the bias probe's bootstrap.
        bias_axes: identity-term axes (``assets/bias/identity_terms.csv``: gender, religion, …) for a
            counterfactual bias probe on the same target, summarised in the report (empty: no probe).
    """

    methods: tuple[str, ...] = ("integrated_gradients",)
    target: object | None = None
    n_steps: int = 16
    faithfulness: bool = True
    repeats: int = 5
    level: str = "word"
    batch_size: int = 16
    seed: int = 0
    bias_axes: tuple[str, ...] = ()

    def __post_init__(self):
        methods = tuple(dict.fromkeys(self.methods))
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise InputError(f"Unknown method(s) {', '.join(unknown)}: use {', '.join(sorted(METHODS))}.")
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "bias_axes", tuple(dict.fromkeys(self.bias_axes)))
        if not 1 <= int(self.n_steps) <= 500:
            raise InputError("Integrated Gradients needs between 1 and 500 steps.")
        if not 1 <= int(self.batch_size) <= 512:
            raise InputError("The batch size must be between 1 and 512.")
        if not 1 <= int(self.repeats) <= 100:
            raise InputError("The random baseline needs between 1 and 100 repeats.")
        if self.level not in ("word", "token"):
            raise InputError("level must be 'word' or 'token'.")

    def to_dict(self, target=None) -> dict:
        """Plain JSON: the settings, with the (resolved) target written out field by field."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "target"}
        doc["methods"] = list(self.methods)
        doc["bias_axes"] = list(self.bias_axes)
        doc["target"] = describe_target(target if target is not None else self.target)
        return doc

    def result_key(self, target) -> dict:
        """The settings that change a per-example result (batch size does not)."""
        doc = self.to_dict(target)
        doc.pop("batch_size")
        return doc


def describe_target(target) -> dict | None:
    if target is None:
        return None
    fields = dataclasses.asdict(target) if dataclasses.is_dataclass(target) else {"repr": repr(target)}
    return {"type": type(target).__name__, **json.loads(json.dumps(fields, default=list))}


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class ExampleResult:
    """One example's summary.

    ``scores`` maps method → [n] float32 per token; ``head_stats`` is [layers, heads, len(STAT_NAMES)]
    (:func:`attnviz.attention.head_statistics` of this example); ``rollout`` [n] the attention rollout
    read out the model's way; ``agreement`` maps "a|b" → {metric: value} on |φ|; ``faithfulness`` maps
    method (and "random") → {comprehensiveness, sufficiency, deletion_auc, insertion_auc}.
    """

    index: int
    text: str
    text_pair: str | None = None
    gold: str | None = None
    slices: dict = field(default_factory=dict)
    status: str = "ok"
    error: str = ""
    tokens: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    words: tuple[tuple[str, tuple[int, ...]], ...] = ()
    truncated: bool = False
    predicted: str = ""
    target: str = ""
    probabilities: dict = field(default_factory=dict)
    output: float = float("nan")
    scores: dict = field(default_factory=dict)
    deltas: dict = field(default_factory=dict)
    head_stats: np.ndarray | None = None
    rollout: np.ndarray | None = None
    agreement: dict = field(default_factory=dict)
    faithfulness: dict = field(default_factory=dict)
    seconds: float = 0.0
    from_cache: bool = False

    def __post_init__(self):
        if self.status not in ("ok", "error"):
            raise ValueError("status must be 'ok' or 'error'")
        if self.status == "ok":
            n = len(self.tokens)
            if len(self.kinds) != n:
                raise ValueError("kinds must have one entry per token")
            for method, scores in self.scores.items():
                if np.shape(scores) != (n,):
                    raise ValueError(f"{method} scores {np.shape(scores)} do not match {n} tokens")
            if self.head_stats is not None and (self.head_stats.ndim != 3 or self.head_stats.shape[2] != len(STAT_NAMES)):
                raise ValueError("head_stats must be [layers, heads, stats]")

    @property
    def correct(self) -> bool | None:
        if self.gold is None or self.status != "ok":
            return None
        return self.gold.strip().lower() == self.predicted.strip().lower()

    def attribution(self, method: str) -> Attribution:
        """The method's scores as an :class:`Attribution` (e.g. for ``to_words()`` or the figures)."""
        return Attribution(tokens=self.tokens, scores=np.asarray(self.scores[method], dtype=np.float32),
                           method=method, target=self.target, label=self.predicted, output=self.output,
                           kinds=self.kinds, words=self.words, delta=self.deltas.get(method))

    def word_scores(self, method: str) -> list[tuple[str, float]]:
        """(word, score) for the text's words (special tokens dropped), subwords summed."""
        words = self.attribution(method).to_words()
        return [(t, float(s)) for t, s, k in zip(words.tokens, words.scores, words.kinds)
                if k not in ("cls", "sep", "special")]

    def to_dict(self) -> dict:
        doc = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value = {"shape": list(value.shape), "data": value.astype(float).ravel().tolist()}
            elif f.name == "scores":
                value = {m: np.asarray(v, dtype=float).tolist() for m, v in value.items()}
            elif f.name == "words":
                value = [[w, list(idx)] for w, idx in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, float) and value != value:
                value = None
            doc[f.name] = value
        return doc

    @classmethod
    def from_dict(cls, doc: dict) -> ExampleResult:
        kwargs = dict(doc)
        for name in ("head_stats", "rollout"):
            arr = kwargs.get(name)
            if isinstance(arr, dict):
                kwargs[name] = np.asarray(arr["data"], dtype=np.float32).reshape(arr["shape"])
        kwargs["scores"] = {m: np.asarray(v, dtype=np.float32) for m, v in (kwargs.get("scores") or {}).items()}
        kwargs["words"] = tuple((w, tuple(idx)) for w, idx in kwargs.get("words") or ())
        for name in ("tokens", "kinds"):
            kwargs[name] = tuple(kwargs.get(name) or ())
        if kwargs.get("output") is None:
            kwargs["output"] = float("nan")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in kwargs.items() if k in known})


@dataclass(frozen=True)
class AuditResult:
    """A finished (or cancelled) audit: the per-example summaries in dataset order plus the record of
    how they were made. ``total`` is the number of examples asked for; ``len(examples)`` ≤ total."""

    examples: tuple[ExampleResult, ...]
    settings: dict
    provenance: dict
    dataset: dict
    total: int
    layers: int
    heads: int
    label_names: tuple[str, ...] = ()
    slice_columns: tuple[str, ...] = ()
    cancelled: bool = False
    cache_hits: int = 0
    #: counterfactual bias probe summary ({"target", "axes": [...], "groups": [...], "sentences"}), or {}
    bias: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.examples) > self.total:
            raise ValueError("more examples than the total")

    @property
    def ok(self) -> list[ExampleResult]:
        return [e for e in self.examples if e.status == "ok"]

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.settings.get("methods", ()))

    def to_dataframe(self, top: int = 3) -> pd.DataFrame:
        """One row per example (results.csv): prediction, probabilities, the top ``top`` words per method,
        completeness gaps, mean agreement and faithfulness, slices and errors."""
        rows = []
        for ex in self.examples:
            row = {"index": ex.index, "text": ex.text}
            if any(e.text_pair for e in self.examples):
                row["text_pair"] = ex.text_pair
            row.update({"gold": ex.gold, "predicted": ex.predicted, "correct": ex.correct, "output": ex.output})
            for name in self.label_names:
                row[f"p({name})"] = ex.probabilities.get(name)
            row.update({"n_tokens": len(ex.tokens), "truncated": ex.truncated})
            for method in self.methods:
                if method in ex.scores:
                    ranked = sorted(ex.word_scores(method), key=lambda ws: -ws[1])[:top]
                    row[f"top_{method}"] = " | ".join(f"{w} ({s:+.3f})" for w, s in ranked)
                    if method in ex.deltas and ex.deltas[method] is not None:
                        row[f"delta_{method}"] = ex.deltas[method]
            if ex.agreement:
                row["mean_spearman"] = float(np.nanmean([a.get("spearman", np.nan) for a in ex.agreement.values()]))
            for method, metrics in ex.faithfulness.items():
                row[f"comprehensiveness_{method}"] = metrics.get("comprehensiveness")
                row[f"sufficiency_{method}"] = metrics.get("sufficiency")
            for column in self.slice_columns:
                row[column] = ex.slices.get(column)
            row.update({"status": ex.status, "error": ex.error, "from_cache": ex.from_cache})
            rows.append(row)
        return pd.DataFrame(rows)


# ------------------------------------------------------------------ cache
class ResultCache:
    """One JSON file per example under ``root/<key[:2]>/<key>.json``, written atomically."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> ExampleResult | None:
        path = self._path(key)
        try:
            return ExampleResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError):
            return None  # a damaged entry is recomputed

    def put(self, key: str, result: ExampleResult) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(result.to_dict(), allow_nan=True), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs speed


# ------------------------------------------------------------------ provenance
_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FINGERPRINT_LOCK = threading.Lock()


def model_fingerprint(handle) -> dict:
    """{name, revision, weights_sha256}: the SHA-256 of every parameter and buffer (name, dtype, shape,
    bytes) in name order — the same for the same weights wherever they were loaded from."""
    with _FINGERPRINT_LOCK:
        known = _FINGERPRINTS.get(handle.model)
        if known is None:
            digest = hashlib.sha256()
            for name, tensor in sorted(handle.model.state_dict().items()):
                t = tensor.detach().cpu().contiguous()
                digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
                digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
            known = digest.hexdigest()
            _FINGERPRINTS[handle.model] = known
    return {"name": handle.name, "revision": getattr(handle.config, "_commit_hash", None), "weights_sha256": known}


def library_versions() -> dict:
    from importlib import metadata

    import attnviz

    versions = {"attnviz": attnviz.__version__, "python": platform.python_version()}
    for package in ("torch", "transformers", "sentence-transformers", "shap", "captum", "numpy", "pandas", "scipy",
                    "plotly", "kaleido"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def provenance(handle, settings: AuditSettings, target) -> dict:
    return {
        "model": {**model_fingerprint(handle), **handle.describe()},
        "versions": library_versions(),
        "device": str(handle.device), "dtype": str(handle.dtype).replace("torch.", ""),
        "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
        "seeds": {"faithfulness_random_baseline": settings.seed, "gradient_shap": 0, "lime": 0, "shap": 0},
        "settings": settings.to_dict(target),
        "attention_readout": handle.readout,
    }


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
    return replace(result, index=int(row["index"]), gold=row["label"], slices={c: row[c] for c in slice_columns})


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
