"""What the pages compute, cached by every setting that changes it.

Results go through ``st.cache_data`` (copies: no page mutates another's), keyed on the model key rather
than the handle, inside a byte budget (``@budgeted(RESULTS)``, :mod:`.budgets`); a cache miss of heavy work
waits for a slot (:func:`.jobs.heavy_job`); :func:`run_audit_with_progress` is the one long run that reports progress instead.
"""

from __future__ import annotations

import streamlit as st

from attnviz.attention import AttentionResult
from attnviz.attribution import AttributionInput, prepare, run
from attnviz.attribution.evaluate import evaluate
from attnviz.audit import run_audit
from attnviz.audit.dataset import read_table
from attnviz.audit.leaderboard import leaderboard
from attnviz.diff import shared_target
from attnviz.generation import attribute_generated, generate
from attnviz.heads import ablate, importance, prune_curve
from attnviz.patching import patch

from .budgets import RESULTS, budgeted
from .jobs import heavy_job
from .models import handle_for


@budgeted(RESULTS)
@st.cache_data(max_entries=8, show_spinner=False)
def cached_attention(model_key: tuple[str, str, str], text: str, text_pair: str | None, target: str | None,
                     layers: tuple[int, ...] | None, chat_template: bool = False) -> AttentionResult:
    handle = handle_for(model_key)
    with heavy_job("attention"):
        return handle.attention(text, text_pair, target=target, layers=None if layers is None else list(layers),
                                **({"chat_template": True} if chat_template else {}))


@budgeted(RESULTS)
@st.cache_data(max_entries=64, show_spinner=False)
def cached_attribution(model_key: tuple[str, str, str], text: str, text_pair: str | None, target,
                       method: str, chat: bool = False):
    """One method's attribution, cached by every setting that changes it (the target is a frozen dataclass)."""
    prepared = cached_input(model_key, text, text_pair, target, chat)  # before the slot: see ui/jobs.py
    with heavy_job("attribution"):
        return run(prepared, method)


@budgeted(RESULTS)
@st.cache_resource(max_entries=8, show_spinner=False)
def cached_input(model_key: tuple[str, str, str], text: str, text_pair: str | None, target,
                 chat: bool = False) -> AttributionInput:
    """The input tokenised and its target bound once, shared by every method, the target info and the
    evaluation (read-only: methods never change it)."""
    return prepare(handle_for(model_key), text, text_pair, target, chat_template=chat)


@budgeted(RESULTS)
@st.cache_data(max_entries=16, show_spinner=False)
def cached_evaluation(model_key: tuple[str, str, str], text: str, text_pair: str | None, target,
                      methods: tuple[str, ...], level: str, _attributions: dict, chat: bool = False):
    """Agreement + faithfulness; ``_attributions`` is not hashed: it is determined by the other keys."""
    prepared = cached_input(model_key, text, text_pair, target, chat)
    with heavy_job("evaluation"):
        return evaluate(handle_for(model_key), _attributions, text, text_pair, target=target, level=level,
                        prepared=prepared)


@budgeted(RESULTS)
@st.cache_data(max_entries=16, show_spinner=False)
def cached_target_info(model_key: tuple[str, str, str], text: str, text_pair: str | None, target,
                       chat: bool = False):
    """What is explained for this input: description, label and the label probabilities."""
    scorer = cached_input(model_key, text, text_pair, target, chat).scorer
    return {"description": scorer.description, "label": scorer.label,
            "probabilities": dict(scorer.label_probabilities), "is_probability": scorer.is_probability}


# --- audit ---
@st.cache_data(max_entries=4, show_spinner=False)  # not budgeted: its key is the file itself (≤ 20 MB, 4 kept)
def cached_read_table(data: bytes, filename: str):
    """An uploaded (or sample) file parsed into a DataFrame with all its columns (InputError if malformed)."""
    return read_table(data, filename)


def run_audit_with_progress(model_key: tuple[str, str, str], dataset, settings, *, cache_dir=True):
    """Run an audit with an ``st.progress`` bar (left on the page when done).

    Streamlit stops a running script when a button (Cancel) is pressed: the next progress update raises
    inside the run, the finished examples are already in the on-disk cache, and the next Run resumes there.
    """
    bar = st.progress(0.0, text=f"Auditing {len(dataset)} examples …")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(1.0, done / max(1, total)), text=message)

    with heavy_job("audit"):
        result = run_audit(handle_for(model_key), dataset, settings, cache_dir=cache_dir, progress=progress)
    bar.progress(1.0, text=f"Done: {len(result.ok)} of {result.total} examples"
                           + (f" ({result.cache_hits} from the cache)" if result.cache_hits else ""))
    return result


# --- compare two / generate ---
@budgeted(RESULTS)
@st.cache_data(max_entries=16, show_spinner=False)
def cached_words(model_key: tuple[str, str, str], text: str) -> tuple:
    """(word text, token positions) per word of ``text``: what word-level comparisons pool over."""
    return handle_for(model_key).encode(text).words


@budgeted(RESULTS)
@st.cache_data(max_entries=16, show_spinner=False)
def cached_shared_target(model_key: tuple[str, str, str], text: str):
    """The model's default target with A's predicted label fixed (both sides explain the same number)."""
    return shared_target(handle_for(model_key), text)


@budgeted(RESULTS)
@st.cache_data(max_entries=8, show_spinner=False)
def cached_generation(model_key: tuple[str, str, str], prompt: str, max_new_tokens: int, do_sample: bool,
                      temperature: float, top_k: int, seed: int):
    """A continuation plus its one-pass attention, cached by every decoding setting."""
    with heavy_job("generation"):
        return generate(handle_for(model_key), prompt, max_new_tokens=max_new_tokens, do_sample=do_sample,
                        temperature=temperature, top_k=top_k, seed=seed)


@budgeted(RESULTS)
@st.cache_data(max_entries=32, show_spinner=False)
def cached_generated_attribution(model_key: tuple[str, str, str], generation_args: tuple, step: int, method: str):
    """Attribution of generated token ``step``; ``generation_args`` are cached_generation's after the key."""
    generation = cached_generation(model_key, *generation_args)
    with heavy_job("attribution"):
        return attribute_generated(handle_for(model_key), generation, step, method)


# --- heads ---
@budgeted(RESULTS)
@st.cache_data(max_entries=8, show_spinner=False)
def cached_head_importance(model_key: tuple[str, str, str], texts: tuple[str, ...]):
    with heavy_job("head importance"):
        return importance(handle_for(model_key), list(texts))


@budgeted(RESULTS)
@st.cache_data(max_entries=16, show_spinner=False)
def cached_ablation(model_key: tuple[str, str, str], text: str, heads: tuple[tuple[int, int], ...], how: str):
    return ablate(handle_for(model_key), text, list(heads), how=how)


@budgeted(RESULTS)
@st.cache_data(max_entries=4, show_spinner=False)
def cached_prune_curve(model_key: tuple[str, str, str], texts: tuple[str, ...], importance_texts: tuple[str, ...]):
    ranking = cached_head_importance(model_key, importance_texts)
    with heavy_job("pruning curve"):
        return prune_curve(handle_for(model_key), list(texts), ranking)


@budgeted(RESULTS)
@st.cache_data(max_entries=8, show_spinner=False)
def cached_patching(model_key: tuple[str, str, str], clean: str, corrupted: str):
    with heavy_job("patching"):
        return patch(handle_for(model_key), clean, corrupted)


@budgeted(RESULTS)
@st.cache_data(max_entries=2, show_spinner=False)
def cached_leaderboard(model_key: tuple[str, str, str], texts: tuple[str, ...], methods: tuple[str, ...]):
    with heavy_job("leaderboard"):
        return leaderboard(handle_for(model_key), list(texts), methods)
