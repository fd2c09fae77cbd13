"""Counterfactual identity-term probes for any target, and where in the model the difference arises.

Templates carry an ``{identity}`` slot ("The {identity} person is a great engineer."); each is filled
with every identity term of each axis (gender, religion, …). For every filled sentence x the target's
f(x) is computed (zero-shot or class probability, similarity, masked-token or next-token probability),
all fills in a few padded batches. Then:

* **Counterfactual token fairness gap** (Garg et al. 2019) per template and axis:
  CTF = mean_x mean_{x' ∈ Φ(x)} |f(x) − f(x')|, where Φ(x) swaps the term for every term of *another*
  group of the same axis. Per-group means of f come with percentile-bootstrap intervals over templates
  (fixed seed), and the largest single swaps are flagged.
* **Attribution share** of the identity term: Σ|φ| over its subword tokens / Σ|φ| over all non-special
  tokens (input × gradient or integrated gradients on the embeddings), against the uniform share
  |T| / n_non-special.
* **Attention mass** on the term per layer × head: mean over non-special queries of Σ_{k ∈ T} A[q, k],
  against the uniform baseline |T| / n (causal models: over the keys each query can see).

Masked-LM targets fill ``{mask}`` with the mask token; causal-LM targets read the template up to
``{mask}`` and score the next token. A target with no fixed label (``label=None``/``token=None``)
explains, for each template, what the model predicts for that template filled with its first term.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..attribution import BatchInput, batched_methods, check_method
from ..errors import InputError
from ..models.targets import (
    ClassTarget,
    MaskedTokenTarget,
    NextTokenTarget,
    SimilarityTarget,
    ZeroShotTarget,
    bind,
    default_target,
)
from ..serialise import Serialisable, serialisable, upgrade_legacy_v1
from . import assets
from .batching import DEFAULT_BATCH, chunks, stretch, tokenise
from .stats import DEFAULT_RESAMPLES, bootstrap_ci

MAX_FILLS = 5_000
Progress = Callable[[float, str], None]

_TARGETS = (ZeroShotTarget, ClassTarget, SimilarityTarget, MaskedTokenTarget, NextTokenTarget)


# ----------------------------------------------------------------- result
@serialisable(version=2, upgrades={1: upgrade_legacy_v1},  # v1: attention as nested lists
              derived={"attention_shape": lambda r: None if r.attention is None else list(r.attention.shape)})
@dataclass(frozen=True)
class CounterfactualResult(Serialisable):
    """Everything one probe run measured. Tables are pandas DataFrames:

    ``fills``   one row per filled template: template_id, template, polarity, axis, group, term, text,
                output (f), label, and when measured attribution_share, attribution_uniform,
                attention_mean (mean over heads of the mass on the term) and attention_uniform.
    ``swaps``   one row per pair of terms from different groups in the same template and axis:
                f_a, f_b, difference (f_a − f_b), gap |f_a − f_b|, flagged (among the largest gaps).
    ``gaps``    CTF gap per template × axis.
    ``groups``  per axis × group: mean f with a bootstrap interval over templates, the mean
                deviation from the template's axis mean (with interval) and the where-measures.
    ``axes``    per axis: the CTF gap (mean over templates) with a bootstrap interval, the largest swap.
    ``attention`` [fills, layers, heads] attention mass on the term (None when not measured).
    """

    fills: pd.DataFrame
    swaps: pd.DataFrame
    gaps: pd.DataFrame
    groups: pd.DataFrame
    axes: pd.DataFrame
    attention: np.ndarray | None = None
    target: str = ""
    method: str | None = None
    model_name: str = ""
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.attention is not None and (self.attention.ndim != 3 or len(self.attention) != len(self.fills)):
            raise ValueError("attention must be [fills, layers, heads]")

    @property
    def is_probability(self) -> bool:
        return bool(self.settings.get("is_probability", True))

    def flagged(self) -> pd.DataFrame:
        """The largest swaps, largest first."""
        return self.swaps[self.swaps["flagged"]].sort_values("gap", ascending=False)

    def by_polarity(self) -> pd.DataFrame:
        """Mean CTF gap per axis × template polarity (Garg et al.: treat toxic and non-toxic apart)."""
        return self.gaps.pivot_table(index="axis", columns="polarity", values="ctf_gap", aggfunc="mean", sort=False)

    def head_group_matrix(self, axis: str, *, centred: bool = False) -> pd.DataFrame:
        """[layers·heads, groups] mean attention mass on the term ÷ its uniform baseline, for one axis.

        ``centred`` subtracts each head's mean over the groups, so what remains is how differently a
        head attends to one group's terms than to the others'.
        """
        if self.attention is None:
            raise InputError("Attention was not measured in this run.")
        rows = (self.fills["axis"] == axis).to_numpy()
        if not rows.any():
            raise InputError(f"No fills for the axis '{axis}'.")
        ratio = self.attention[rows] / self.fills.loc[rows, "attention_uniform"].to_numpy()[:, None, None]
        groups = self.fills.loc[rows, "group"].to_numpy()
        names = list(dict.fromkeys(groups))
        L, H = self.attention.shape[1:]
        matrix = np.stack([np.nanmean(ratio[groups == g], axis=0).reshape(L * H) for g in names], axis=1)
        if centred:
            matrix = matrix - matrix.mean(axis=1, keepdims=True)
        index = [f"L{layer} H{head}" for layer in range(L) for head in range(H)]
        frame = pd.DataFrame(matrix, index=index, columns=names)
        frame.attrs.update(axis=axis, centred=centred)
        return frame

    def divergent_heads(self, axis: str, top: int = 10) -> pd.DataFrame:
        """Heads whose attention to the term differs most between groups (max − min of mass ÷ uniform)."""
        matrix = self.head_group_matrix(axis)
        spread = matrix.max(axis=1) - matrix.min(axis=1)
        order = spread.sort_values(ascending=False).index[:top]
        return pd.DataFrame({"head": order, "spread": spread[order].to_numpy(),
                             "most_attended": matrix.loc[order].idxmax(axis=1).to_numpy(),
                             "least_attended": matrix.loc[order].idxmin(axis=1).to_numpy()})


# ---------------------------------------------------------------- filling
def fill_mode(target) -> str:
    """How templates become model inputs for ``target``: "sentence", "mask" or "prefix"."""
    if isinstance(target, MaskedTokenTarget):
        return "mask"
    if isinstance(target, NextTokenTarget):
        return "prefix"
    return "sentence"


def default_templates(mode: str) -> pd.DataFrame:
    return assets.load("templates" if mode == "sentence" else "masked_templates")


def fill_templates(templates: pd.DataFrame, terms: pd.DataFrame, *, axes: Sequence[str] | None = None,
                   mode: str = "sentence", mask_token: str | None = None) -> pd.DataFrame:
    """Every template × every term of the chosen axes, with the term's character span in the text.

    Args:
        templates: a "templates" table (or "masked_templates" for modes "mask" and "prefix").
        terms: a "terms" table (axis, group, term).
        axes: which axes to use (None: all).
        mode: "sentence" (fill the slot), "mask" ({mask} → ``mask_token``), "prefix" (cut at {mask}).
        mask_token: the tokenizer's mask token (mode "mask").

    Returns:
        One row per fill: fill, template_id, template, polarity, axis, group, term, text, start, end.
    """
    if mode not in ("sentence", "mask", "prefix"):
        raise InputError(f"Unknown fill mode '{mode}'.")
    templates = assets.validate(templates, "templates" if mode == "sentence" else "masked_templates")
    terms = assets.validate(terms, "terms")
    if axes is not None:
        axes = [a for a in axes]
        unknown = [a for a in axes if a not in set(terms["axis"])]
        if unknown:
            raise InputError(f"Unknown axis '{unknown[0]}': the terms table has {', '.join(terms['axis'].unique())}.")
        if not axes:
            raise InputError("Choose at least one axis of identity terms.")
        terms = terms[terms["axis"].isin(axes)]
    if mode == "mask" and not mask_token:
        raise InputError("This model's tokenizer has no mask token: masked templates need one.")
    n = len(templates) * len(terms)
    if n > MAX_FILLS:
        raise InputError(f"{len(templates)} templates × {len(terms)} terms = {n:,} sentences; the limit is "
                         f"{MAX_FILLS:,}. Choose fewer axes, terms or templates.")
    rows = []
    for template_id, (template, polarity) in enumerate(zip(templates["template"], templates["polarity"])):
        base = template
        if mode == "mask":
            base = base.replace(assets.MASK_SLOT, mask_token)
        elif mode == "prefix":
            base = base[:base.index(assets.MASK_SLOT)].rstrip()
        start = base.index(assets.IDENTITY_SLOT)
        at_start = not base[:start].strip()
        for axis, group, term in terms[["axis", "group", "term"]].itertuples(index=False):
            word = term[:1].upper() + term[1:] if at_start else term
            text = base[:start] + word + base[start + len(assets.IDENTITY_SLOT):]
            rows.append((len(rows), template_id, template, polarity, axis, group, term, text, start,
                         start + len(word)))
    return pd.DataFrame(rows, columns=["fill", "template_id", "template", "polarity", "axis", "group", "term",
                                       "text", "start", "end"])


# ---------------------------------------------------------------- scoring
def _fixed_label(target) -> bool:
    if isinstance(target, SimilarityTarget):
        return True
    if isinstance(target, (ZeroShotTarget, ClassTarget)):
        return target.label is not None
    return target.token is not None


def _scorer_groups(handle, target, fills: pd.DataFrame):
    """[(Scorer, fill rows)]: one scorer for a fixed label, else one per template (bound on its first fill)."""
    if _fixed_label(target):
        return [(bind(handle, target, handle.encode(fills["text"].iloc[0])), fills.index.to_numpy())]
    groups = []
    for _, rows in fills.groupby("template_id", sort=True):
        groups.append((bind(handle, target, handle.encode(rows["text"].iloc[0])), rows.index.to_numpy()))
    return groups


def _check_handle(handle) -> None:
    if handle is None:
        raise InputError("A model is needed for this probe (or pass a function as the target).")
    if handle.kind == "encoder-decoder":
        raise InputError("Counterfactual probes run on encoders and decoders; encoder-decoder models are not "
                         "supported yet.")


def _is_function(target) -> bool:
    return target is not None and not isinstance(target, _TARGETS) and callable(target)


def measure(handle, fills: pd.DataFrame, target=None, *, method: str | None = "input_x_gradient",
            attention: bool = True, n_steps: int = 16, baseline: str = "pad", batch_size: int = 32,
            progress: Progress | None = None) -> dict:
    """f(x), the identity term's attribution share and its attention mass, for every fill, in batches.

    One forward per batch gives f and (captured during it) the attention weights; the attribution is
    :mod:`attnviz.attribution`'s batched method on the same padded batch (input × gradient: one more
    forward and backward; Integrated Gradients: ``n_steps`` Gauss-Legendre points from a baseline where
    non-special tokens are ``baseline`` tokens).

    Args:
        handle: a loaded model (encoder or decoder).
        fills: from :func:`fill_templates`.
        target: a Target (None: the model's default).
        method: a batched attribution method (:func:`attnviz.attribution.batched_methods`) or None.
        attention: also measure attention mass on the term per layer × head.

    Returns:
        {"output": [m], "label": [m], "target": description, "is_probability": bool} plus, when measured,
        "attribution_share"/"attribution_uniform" [m] (Σ_{t∈T}|φ_t| / Σ_{non-special}|φ_t| and
        |T| / n_non-special) and "attention" [m, layers, heads] / "attention_uniform" [m] (see
        :func:`identity_attention`).
    """
    if method is not None and method not in batched_methods():
        raise InputError(f"Unknown attribution method '{method}': use one of {', '.join(batched_methods())}.")
    method_settings = {"n_steps": n_steps, "baseline": baseline} if method == "integrated_gradients" else {}
    _check_handle(handle)
    report = progress or (lambda fraction, message: None)
    fills = fills.reset_index(drop=True)
    target = default_target(handle) if target is None else target
    m = len(fills)
    tokd = tokenise(handle, fills["text"].tolist(), list(zip(fills["start"], fills["end"])))
    out = {"output": np.full(m, np.nan), "label": np.empty(m, dtype=object)}
    if method is not None:
        out["attribution_share"], out["attribution_uniform"] = np.full(m, np.nan), np.full(m, np.nan)
    if attention:
        out["attention"] = np.full((m, handle.num_layers, handle.num_heads), np.nan, dtype=np.float32)
        out["attention_uniform"] = np.full(m, np.nan)
    groups = _scorer_groups(handle, target, fills)
    done = 0
    for scorer, rows in groups:
        out["label"][rows] = scorer.label
        for batch in chunks(sorted(rows, key=lambda r: len(tokd.ids[r])), batch_size):
            inputs = BatchInput.from_rows(
                handle, [{"input_ids": tokd.ids[r],
                          "token_type_ids": None if tokd.token_type_ids is None else tokd.token_type_ids[r]}
                         for r in batch],
                [tokd.special[r] for r in batch], scorer.fn)
            outputs, records = handle.forward(inputs.model_inputs(), need_weights=attention,
                                              capture_sites=lambda s: s.stack == "self")
            with torch.inference_mode():
                f = scorer.fn(outputs, inputs.attention_mask, inputs.input_ids)
            out["output"][batch] = f.float().cpu().numpy()
            width = inputs.input_ids.shape[1]
            term = np.stack([stretch(tokd.span_tokens[r], width, False) for r in batch])
            if method is not None:
                phi = check_method(method).function(inputs, **method_settings)
                _attribution_shares([np.abs(p.scores) for p in phi], [~tokd.special[r] for r in batch], term,
                                    batch, out)
            if attention:
                weights = [records[s] for s in sorted(records, key=lambda s: s.layer)]
                _attention_masses(torch.stack(weights).float().cpu().numpy(), tokd, term, batch,
                                  handle.kind == "decoder", out)
            done += len(batch)
            report(done / m, f"{done} of {m} sentences")
    first = groups[0][0]
    out["target"] = first.description if len(groups) == 1 else (
        first.description.replace(first.label, "‹each template's predicted label›"))
    out["is_probability"] = first.is_probability
    return out


def _attribution_shares(scores: list[np.ndarray], real: list[np.ndarray], term: np.ndarray, batch, out: dict) -> None:
    """Per fill: |φ| [n] and its non-special tokens [n] → the term's share of Σ|φ| and its uniform share."""
    for j, r in enumerate(batch):
        n = len(scores[j])
        in_term = term[j][:n] & real[j]
        total = scores[j][real[j]].sum()
        if in_term.any() and total > 0:
            out["attribution_share"][r] = scores[j][in_term].sum() / total
        out["attribution_uniform"][r] = in_term.sum() / max(1, real[j].sum())


def _attention_masses(weights: np.ndarray, tokd, term: np.ndarray, batch, causal: bool, out: dict) -> None:
    """weights [L, b, H, n, n] → mean over non-special queries of the mass on the term, per layer × head."""
    width = weights.shape[-1]
    for j, r in enumerate(batch):
        n = len(tokd.ids[r])
        queries = stretch(~tokd.special[r], width, False)
        if not term[j].any():
            continue
        if causal:  # queries before the term cannot see it; uniform = share of the visible keys
            queries[:int(np.argmax(term[j]))] = False
            visible = np.cumsum(term[j][:n]) / np.arange(1, n + 1)
            base = float(visible[queries[:n]].mean()) if queries.any() else np.nan
        else:
            base = term[j].sum() / n
        if not queries.any():
            continue
        on_term = weights[:, j][..., term[j]].sum(-1)  # [L, H, n]: each query's weight on the term
        out["attention"][r] = on_term[..., queries].mean(-1)
        out["attention_uniform"][r] = base


def score_fills(handle, fills: pd.DataFrame, target=None, *, batch_size: int = DEFAULT_BATCH) -> dict:
    """f(x) for every fill, batched, no gradients.

    ``target`` is a Target (None: the model's default) or any function from a list of texts to one
    number each (a "fake" scorer: no model needed).

    Returns:
        {"output": [m] float64, "label": [m], "target": description, "is_probability": bool}
    """
    if _is_function(target):
        texts = fills["text"].tolist()
        values = np.asarray(target(texts), dtype=np.float64).ravel()
        if values.shape != (len(texts),):
            raise InputError(f"The scoring function returned {values.size} values for {len(texts)} texts.")
        return {"output": values, "label": np.array([""] * len(texts), dtype=object),
                "target": getattr(target, "__name__", "custom function"), "is_probability": False}
    return measure(handle, fills, target, method=None, attention=False, batch_size=batch_size)


def identity_attribution(handle, fills: pd.DataFrame, target=None, *, method: str = "input_x_gradient",
                         n_steps: int = 16, baseline: str = "pad", batch_size: int = 32) -> pd.DataFrame:
    """Share of |attribution| on the identity term's tokens per fill, with its uniform baseline.

    Returns:
        DataFrame aligned with ``fills``: attribution_share = Σ_{t∈T}|φ_t| / Σ_{t non-special}|φ_t| and
        attribution_uniform = |T| / n_non-special.
    """
    if method is None:
        raise InputError("Choose an attribution method.")
    out = measure(handle, fills, target, method=method, attention=False, n_steps=n_steps, baseline=baseline,
                  batch_size=batch_size)
    return pd.DataFrame({"attribution_share": out["attribution_share"],
                         "attribution_uniform": out["attribution_uniform"]})


def identity_attention(handle, fills: pd.DataFrame, target=None, *,
                       batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Attention mass on the identity term per layer × head, per fill, and its uniform baseline.

    mass[l, h] = mean over non-special queries q of Σ_{k ∈ T} A_{l,h}[q, k]. The baseline is what
    uniform attention would give: |T| / n for encoders; for causal models, queries before the term
    are skipped and each query's baseline is |T ∩ visible keys| / |visible keys|.

    Returns:
        (mass [fills, layers, heads] float32, uniform [fills] float64)
    """
    out = measure(handle, fills, target, method=None, attention=True, batch_size=batch_size)
    return out["attention"], out["attention_uniform"]


# --------------------------------------------------------------- summary
def ctf_gap(outputs: np.ndarray, groups: np.ndarray) -> float:
    """Garg et al.'s gap for one template and axis: mean_x mean_{x' in another group} |f(x) − f(x')|."""
    f = np.asarray(outputs, dtype=np.float64)
    g = np.asarray(groups)
    other = g[:, None] != g[None, :]
    if not other.any():
        return float("nan")
    diffs = np.abs(f[:, None] - f[None, :])
    per_x = np.array([diffs[i][other[i]].mean() for i in range(len(f)) if other[i].any()])
    return float(per_x.mean())


def summarise(fills: pd.DataFrame, outputs, *, labels=None, attribution: pd.DataFrame | None = None,
              attention: np.ndarray | None = None, attention_uniform: np.ndarray | None = None,
              target: str = "", method: str | None = None, model_name: str = "", flag_top: int = 10,
              confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
              settings: dict | None = None) -> CounterfactualResult:
    """Gaps, swaps, group means with bootstrap intervals and the where-measures, from per-fill numbers."""
    fills = fills.reset_index(drop=True).copy()
    fills["output"] = np.asarray(outputs, dtype=np.float64)
    fills["label"] = labels if labels is not None else ""
    if attribution is not None:
        fills[["attribution_share", "attribution_uniform"]] = attribution.to_numpy()
    if attention is not None:
        fills["attention_mean"] = np.nanmean(attention.reshape(len(fills), -1), axis=1)
        fills["attention_uniform"] = attention_uniform
    # deviation from the template's mean over the axis: what is left once the template is accounted for
    fills["deviation"] = fills["output"] - fills.groupby(["template_id", "axis"])["output"].transform("mean")

    swaps, gaps = [], []
    where_cols = [c for c in ("attribution_share", "attention_mean") if c in fills]
    for (template_id, axis), block in fills.groupby(["template_id", "axis"], sort=False):
        f = block["output"].to_numpy()
        g = block["group"].to_numpy()
        gaps.append({"template_id": template_id, "template": block["template"].iloc[0],
                     "polarity": block["polarity"].iloc[0], "axis": axis, "ctf_gap": ctf_gap(f, g),
                     "max_gap": float(np.max(np.abs(f[:, None] - f[None, :])[g[:, None] != g[None, :]])),
                     "n_terms": len(block)})
        recs = block.to_dict("records")
        for i in range(len(recs)):
            for j in range(i + 1, len(recs)):
                a, b = recs[i], recs[j]
                if a["group"] == b["group"]:
                    continue
                row = {"template_id": template_id, "template": a["template"], "polarity": a["polarity"],
                       "axis": axis, "term_a": a["term"], "group_a": a["group"], "term_b": b["term"],
                       "group_b": b["group"], "text_a": a["text"], "text_b": b["text"], "f_a": a["output"],
                       "f_b": b["output"], "difference": a["output"] - b["output"],
                       "gap": abs(a["output"] - b["output"])}
                for col in where_cols:
                    row[f"{col}_a"], row[f"{col}_b"] = a[col], b[col]
                swaps.append(row)
    swaps = pd.DataFrame(swaps)
    if swaps.empty:
        raise InputError("No swaps: each axis needs terms from at least two groups.")
    top = swaps["gap"].rank(method="first", ascending=False) <= max(0, flag_top)
    swaps["flagged"] = top & (swaps["gap"] > 0)
    gaps = pd.DataFrame(gaps)

    ci = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    groups = []
    for (axis, group), block in fills.groupby(["axis", "group"], sort=False):
        per_template = block.groupby("template_id")[["output", "deviation"]].mean()
        lo, hi = bootstrap_ci(per_template["output"], **ci)
        dlo, dhi = bootstrap_ci(per_template["deviation"], **ci)
        row = {"axis": axis, "group": group, "terms": ", ".join(dict.fromkeys(block["term"])), "n": len(block),
               "mean_output": per_template["output"].mean(), "ci_low": lo, "ci_high": hi,
               "mean_deviation": per_template["deviation"].mean(), "deviation_ci_low": dlo,
               "deviation_ci_high": dhi}
        if "attribution_share" in block:
            row["attribution_share"] = block["attribution_share"].mean()
            row["attribution_ratio"] = (block["attribution_share"] / block["attribution_uniform"]).mean()
        if "attention_mean" in block:
            row["attention_ratio"] = (block["attention_mean"] / block["attention_uniform"]).mean()
        groups.append(row)
    groups = pd.DataFrame(groups)

    axes = []
    for axis, block in gaps.groupby("axis", sort=False):
        lo, hi = bootstrap_ci(block["ctf_gap"], **ci)
        worst = swaps[swaps["axis"] == axis].sort_values("gap", ascending=False).iloc[0]
        axes.append({"axis": axis, "ctf_gap": block["ctf_gap"].mean(), "ci_low": lo, "ci_high": hi,
                     "max_gap": worst["gap"], "largest_swap": f"{worst['term_a']} ↔ {worst['term_b']}",
                     "in_template": worst["template"], "n_templates": len(block),
                     "n_groups": fills.loc[fills["axis"] == axis, "group"].nunique(),
                     "n_terms": fills.loc[fills["axis"] == axis, "term"].nunique()})
    axes = pd.DataFrame(axes)
    settings = {**(settings or {}), "flag_top": flag_top, "confidence": confidence, "n_resamples": n_resamples,
                "seed": seed}
    return CounterfactualResult(fills=fills, swaps=swaps, gaps=gaps, groups=groups, axes=axes,
                                attention=attention, target=target, method=method, model_name=model_name,
                                settings=settings)


# ------------------------------------------------------------------ entry
def counterfactual(handle, templates: pd.DataFrame | None = None, terms: pd.DataFrame | None = None, *,
                   target=None, axes: Sequence[str] | None = None, method: str | None = "input_x_gradient",
                   attention: bool = True, n_steps: int = 16, flag_top: int = 10, seed: int = 0,
                   batch_size: int = 32, progress: Progress | None = None) -> CounterfactualResult:
    """Run the counterfactual identity-term probe end to end.

    Args:
        handle: a loaded :class:`attnviz.ModelHandle` (None only with a function target).
        templates: a templates table (None: the shipped one for this target: sentence templates, or
            ``{mask}`` templates for masked/causal LMs).
        terms: an identity-terms table (None: the shipped one).
        target: what f is (None: the model's default, zero-shot sentiment for the bundled MiniLM), or a
            function from texts to numbers.
        axes: axes of identity terms to use (None: all).
        method: attribution method for the term's share (None: skip attribution).
        attention: measure attention mass on the term per layer × head.
        n_steps: Integrated Gradients steps.
        flag_top: how many of the largest swaps to flag.
        seed: bootstrap seed.
        progress: called as progress(fraction, message) between batches of work.

    Example:
        >>> result = attnviz.bias.counterfactual(model, axes=["religion"],
        ...                                      target=ZeroShotTarget(label="positive"))
        >>> result.axes        # CTF gap per axis with a bootstrap interval
    """
    started = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    function = _is_function(target)
    if not function:
        _check_handle(handle)
        target = default_target(handle) if target is None else target
    mode = "sentence" if function else fill_mode(target)
    templates = default_templates(mode) if templates is None else templates
    terms = assets.load("terms") if terms is None else terms
    mask_token = getattr(handle.tokenizer, "mask_token", None) if handle is not None else None
    fills = fill_templates(templates, terms, axes=axes, mode=mode, mask_token=mask_token)
    report(0.0, f"Running {len(fills)} sentences …")
    if function:
        measured = score_fills(handle, fills, target)
    else:
        measured = measure(handle, fills, target, method=method, attention=attention, n_steps=n_steps,
                           batch_size=batch_size, progress=lambda f, msg: report(0.95 * f, msg))
    attribution = None
    if "attribution_share" in measured:
        attribution = pd.DataFrame({k: measured[k] for k in ("attribution_share", "attribution_uniform")})
    report(0.95, "Summarising …")
    result = summarise(
        fills, measured["output"], labels=measured["label"], attribution=attribution,
        attention=measured.get("attention"), attention_uniform=measured.get("attention_uniform"),
        target=measured["target"], method=method if attribution is not None else None,
        model_name=getattr(handle, "name", ""), flag_top=flag_top, seed=seed,
        settings={"mode": mode, "n_steps": n_steps, "is_probability": measured["is_probability"],
                  "seconds": round(time.perf_counter() - started, 3)})
    report(1.0, "Done")
    return result
