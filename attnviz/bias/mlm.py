"""CrowS-Pairs-style sentence-pair probes for language models (after Nangia et al. 2020).

For a masked LM the score of a sentence is its pseudo-log-likelihood over the tokens it *shares*
with the other sentence of its pair: each shared token is masked in turn and log P(token | rest) is
summed. The tokens that differ (the identity words) are never masked, so both scores are conditioned
on them. Shared tokens are the "equal" blocks of difflib's SequenceMatcher on the token ids, special
tokens excluded. All masked copies of all sentences run in a few padded batches.

For a causal LM the score is the joint log-likelihood of the sentence, Σ_t log P(x_t | x_<t) — a
different metric (as bias-bench does), labelled as such.

The metric is the share of pairs whose more-stereotyping sentence scores higher (50 is the ideal);
scores are rounded to 3 decimals first, and ties count as neither but stay in the denominator.
These probes are noisy (Blodgett et al. 2021): read them as a hint, not a verdict.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from ..serialise import Serialisable, serialisable
from . import assets
from .batching import DEFAULT_BATCH, Tokenised, chunks, pad, tokenise
from .stats import DEFAULT_RESAMPLES, bootstrap_ci

SCORINGS = {
    "pll": "pseudo-log-likelihood over shared tokens (masked LM)",
    "joint": "joint log-likelihood of the sentence (causal LM)",
}


@serialisable(version=1, derived={"scoring_description": lambda r: SCORINGS[r.scoring]})
@dataclass(frozen=True)
class PairsResult(Serialisable):
    """Scores of sentence pairs.

    ``pairs`` has one row per pair: sent_more, sent_less, bias_type, score_more, score_less,
    difference (more − less), preferred ("more", "less" or "tie"), n_shared (tokens scored).
    ``metric`` is 100 · #(score_more > score_less) / N with a bootstrap interval over pairs.
    """

    pairs: pd.DataFrame
    metric: float
    ci_low: float
    ci_high: float
    by_type: pd.DataFrame
    scoring: str
    model_name: str = ""
    settings: dict = field(default_factory=dict)


def scoring_for(handle) -> str:
    """"pll" for masked LMs, "joint" for causal LMs; other models cannot score sentences."""
    head = type(handle.model).__name__
    if head.endswith("ForMaskedLM") and handle.tokenizer.mask_token_id is not None:
        return "pll"
    if handle.kind == "decoder" and hasattr(handle.model, "get_output_embeddings") and \
            handle.model.get_output_embeddings() is not None:
        return "joint"
    raise InputError(f"{handle.name} has no language-model head: load a masked LM (e.g. bert-base-uncased) or a "
                     "causal LM (e.g. gpt2) for sentence-pair probes.")


def shared_positions(ids_a, ids_b, special_a, special_b) -> tuple[list[int], list[int]]:
    """Token positions the two sentences share (difflib "equal" blocks), special tokens excluded."""
    matcher = difflib.SequenceMatcher(None, list(ids_a), list(ids_b), autojunk=False)
    pos_a, pos_b = [], []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag != "equal":
            continue
        for i, j in zip(range(a0, a1), range(b0, b1)):
            if not special_a[i] and not special_b[j]:
                pos_a.append(i)
                pos_b.append(j)
    return pos_a, pos_b


def masked_log_probs(handle, jobs: list[tuple[list[int], int]], *, batch_size: int = DEFAULT_BATCH,
                     token_types: list[list[int]] | None = None) -> np.ndarray:
    """log P(ids[pos] | ids with pos masked) for each (ids, pos) job, in padded batches."""
    mask_id = handle.tokenizer.mask_token_id
    masked = []
    for ids, pos in jobs:
        copy = list(ids)
        copy[pos] = mask_id
        masked.append(copy)
    tokd = Tokenised(masked, [np.zeros(len(m), dtype=bool) for m in masked], token_types, None)
    out = np.zeros(len(jobs))
    order = sorted(range(len(jobs)), key=lambda r: len(masked[r]))
    with torch.inference_mode():
        for batch in chunks(order, batch_size):
            inputs = pad(handle, tokd, batch)
            logits = handle.model(**inputs).logits
            rows = torch.arange(len(batch), device=logits.device)
            pos = torch.tensor([jobs[r][1] for r in batch], device=logits.device)
            gold = torch.tensor([jobs[r][0][jobs[r][1]] for r in batch], device=logits.device)
            logp = torch.log_softmax(logits[rows, pos].float(), dim=-1)[rows, gold]
            out[batch] = logp.cpu().numpy()
    return out


def joint_log_likelihood(handle, ids_list: list[list[int]], special: list[np.ndarray], *,
                         batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """Σ_t log P(x_t | x_<t) over the non-special tokens after the first, per sentence."""
    tokd = Tokenised(ids_list, special, None, None)
    out = np.zeros(len(ids_list))
    order = sorted(range(len(ids_list)), key=lambda r: len(ids_list[r]))
    with torch.inference_mode():
        for batch in chunks(order, batch_size):
            inputs = pad(handle, tokd, batch)
            logp = torch.log_softmax(handle.model(**inputs).logits.float(), dim=-1)
            for j, r in enumerate(batch):
                ids = torch.tensor(ids_list[r], device=logp.device)
                token_logp = logp[j, :len(ids) - 1].gather(-1, ids[1:, None])[:, 0]
                scored = torch.as_tensor(~special[r][1:], device=logp.device)
                out[r] = float(token_logp[scored].sum())
    return out


def compare_pairs(handle, pairs: pd.DataFrame | None = None, *, batch_size: int = DEFAULT_BATCH,
                  seed: int = 0, n_resamples: int = DEFAULT_RESAMPLES,
                  progress: Callable[[float, str], None] | None = None) -> PairsResult:
    """Score each (sent_more, sent_less) pair and report how often the model prefers sent_more.

    Args:
        handle: a masked LM (pseudo-log-likelihood) or causal LM (joint log-likelihood).
        pairs: a "pairs" table (None: the shipped examples written for attnviz).
        seed: seed of the bootstrap interval of the metric.

    Example:
        >>> result = attnviz.bias.compare_pairs(attnviz.load_model("bert-base-uncased"))
        >>> result.metric        # % of pairs where the more-stereotyping sentence is more likely; 50 = ideal
    """
    report = progress or (lambda fraction, message: None)
    scoring = scoring_for(handle)
    pairs = assets.load("pairs") if pairs is None else assets.validate(pairs, "pairs")
    sentences = list(pairs["sent_more"]) + list(pairs["sent_less"])
    tokd = tokenise(handle, sentences)
    n = len(pairs)
    report(0.05, f"Scoring {2 * n} sentences …")
    n_shared = np.zeros(n, dtype=int)
    if scoring == "pll":
        jobs, owner = [], []
        for i in range(n):
            a, b = i, n + i
            pos_a, pos_b = shared_positions(tokd.ids[a], tokd.ids[b], tokd.special[a], tokd.special[b])
            n_shared[i] = len(pos_a)
            jobs += [(tokd.ids[a], p) for p in pos_a] + [(tokd.ids[b], p) for p in pos_b]
            owner += [a] * len(pos_a) + [b] * len(pos_b)
        types = None
        if tokd.token_type_ids is not None:
            types = [tokd.token_type_ids[o] for o in owner]
        logp = masked_log_probs(handle, jobs, batch_size=batch_size, token_types=types) if jobs else np.zeros(0)
        scores = np.bincount(np.array(owner, dtype=int), weights=logp, minlength=2 * n) if jobs else np.zeros(2 * n)
    else:
        scores = joint_log_likelihood(handle, tokd.ids, tokd.special, batch_size=batch_size)
        n_shared[:] = [int((~s[1:]).sum()) for s in tokd.special[:n]]
    report(0.9, "Summarising …")
    more, less = scores[:n], scores[n:]
    r_more, r_less = np.round(more, 3), np.round(less, 3)
    preferred = np.where(r_more > r_less, "more", np.where(r_more < r_less, "less", "tie"))
    table = pairs.copy()
    table["score_more"], table["score_less"] = more, less
    table["difference"] = more - less
    table["preferred"] = preferred
    table["n_shared"] = n_shared
    wins = (preferred == "more").astype(float) * 100
    lo, hi = bootstrap_ci(wins, seed=seed, n_resamples=n_resamples)
    by_type = (table.assign(win=wins, tie=(preferred == "tie"))
               .groupby("bias_type", sort=False)
               .agg(n=("win", "size"), metric=("win", "mean"), ties=("tie", "sum"),
                    mean_difference=("difference", "mean")).reset_index())
    report(1.0, "Done")
    return PairsResult(pairs=table, metric=float(wins.mean()), ci_low=lo, ci_high=hi, by_type=by_type,
                       scoring=scoring, model_name=handle.name,
                       settings={"seed": seed, "n_resamples": n_resamples, "rounding": 3})


def pseudo_log_likelihood(handle, sentence: str, positions: list[int] | None = None) -> float:
    """Σ log P(token | sentence with that token masked) over ``positions`` (None: every non-special token)."""
    if scoring_for(handle) != "pll":
        raise InputError("Pseudo-log-likelihood needs a masked language model.")
    tokd = tokenise(handle, [sentence])
    ids = tokd.ids[0]
    if positions is None:
        positions = [i for i in range(len(ids)) if not tokd.special[0][i]]
    types = None if tokd.token_type_ids is None else [tokd.token_type_ids[0]] * len(positions)
    return float(masked_log_probs(handle, [(ids, p) for p in positions], token_types=types).sum())
