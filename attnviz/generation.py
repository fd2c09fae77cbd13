"""Generation for causal LMs: a continuation, and for each generated token what it attended to and why.

    >>> model = attnviz.load_model("gpt2")                 # any causal LM (kind "decoder")
    >>> gen = generate(model, "The capital of France is", max_new_tokens=8)
    >>> gen.continuation, gen.generated_tokens, gen.probabilities
    >>> gen.attention_row(0).shape                          # [layers, heads, keys]: what produced token 0
    >>> attribute_generated(model, gen, 0, "integrated_gradients").scores

Decoding is greedy by default; sampling draws from softmax(logits / temperature) (optionally the top-k
logits only) with a private ``torch.Generator`` seeded by ``seed`` (reproducible, no global RNG state).

Attention: a causal model's attention row at position i depends only on tokens 0..i, so the rows seen
while generating step by step are exactly the rows of ONE forward pass over prompt + continuation.
That single extraction is ``GenerationResult.attention`` ([layers, heads, N, N]). Generated token t sits
at position p = n_prompt + t; it was *predicted* from the row of position p − 1 (keys 0..p − 1), which
is what :meth:`GenerationResult.attention_row` returns by default (``which="own"``: the token's own row).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .attention import AttentionResult
from .attribution import check_method, prepare_encoded, run
from .errors import InputError, ResourceError
from .models import encoding as limits
from .models.encoding import SPECIAL_KINDS, AttentionSite, Encoding, token_kinds, writable_ids
from .models.targets import NextTokenTarget
from .serialise import Serialisable, serialisable, upgrade_legacy_v1

MAX_NEW_TOKENS = 64
TOP_ALTERNATIVES = 5
ROWS = {
    "predicting": "the row of the position before the token: the attention that produced it",
    "own": "the token's own row: what it attends to once it is part of the context",
}


@serialisable(version=2, upgrades={1: upgrade_legacy_v1})  # v1: attention as JSON text, probabilities a list
@dataclass(frozen=True)
class GenerationResult(Serialisable):
    """A prompt, its continuation and the attention of one forward pass over both.

    ``token_ids`` [N] prompt + continuation; ``n_prompt`` how many are the prompt; ``probabilities`` [T]
    p(token t | everything before it) under the model's own distribution (temperature 1, no top-k),
    whatever the decoding; ``attention`` the AttentionResult over all N tokens; ``words`` the prompt's
    words plus one entry per generated token; ``stop_reason`` "length" or "eos"; ``alternatives`` per
    step the TOP_ALTERNATIVES most probable tokens and their probabilities (what else it could have said).
    """

    prompt: str
    token_ids: tuple[int, ...]
    n_prompt: int
    continuation: str
    probabilities: np.ndarray
    attention: AttentionResult
    words: tuple[tuple[str, tuple[int, ...]], ...] = ()
    settings: dict = field(default_factory=dict)
    stop_reason: str = "length"
    model_name: str = ""
    alternatives: tuple[tuple[tuple[str, float], ...], ...] = ()

    def __post_init__(self):
        n = len(self.token_ids)
        if len(self.attention.tokens) != n:
            raise ValueError(f"attention covers {len(self.attention.tokens)} tokens, not {n}")
        if not 1 <= self.n_prompt <= n:
            raise ValueError("n_prompt must be between 1 and the number of tokens")
        if np.shape(self.probabilities) != (n - self.n_prompt,):
            raise ValueError("one probability per generated token")
        if self.stop_reason not in ("length", "eos"):
            raise ValueError("stop_reason must be 'length' or 'eos'")
        if self.alternatives and len(self.alternatives) != n - self.n_prompt:
            raise ValueError("alternatives need one entry per generated token")

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.attention.tokens

    @property
    def n_generated(self) -> int:
        return len(self.token_ids) - self.n_prompt

    @property
    def generated_ids(self) -> tuple[int, ...]:
        return self.token_ids[self.n_prompt:]

    @property
    def generated_tokens(self) -> tuple[str, ...]:
        return self.tokens[self.n_prompt:]

    def position(self, step: int) -> int:
        """Sequence position of generated token ``step`` (0 = the first generated token)."""
        if not 0 <= step < self.n_generated:
            raise InputError(f"Generated token {step} does not exist: choose 0–{self.n_generated - 1}.")
        return self.n_prompt + step

    def attention_row(self, step: int, *, which: str = "predicting") -> np.ndarray:
        """[layers, heads, keys] attention for generated token ``step`` (see ROWS for ``which``).

        "predicting": row p − 1 over keys 0..p − 1; "own": row p over keys 0..p (p = its position).
        """
        if which not in ROWS:
            raise InputError(f"Unknown row '{which}': use one of {', '.join(ROWS)}.")
        query = self.position(step) - (1 if which == "predicting" else 0)
        return self.attention.attentions[:, :, query, :query + 1]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per generated token: step, position, id, token and its probability."""
        return pd.DataFrame({"step": np.arange(self.n_generated),
                             "position": np.arange(self.n_prompt, len(self.token_ids)),
                             "token_id": list(self.generated_ids), "token": list(self.generated_tokens),
                             "probability": self.probabilities.astype(np.float32)})


def check_causal(handle) -> None:
    """InputError unless ``handle`` is a causal LM with a language-modelling head."""
    if handle.kind != "decoder":
        raise InputError(
            f"Generation needs a causal language model (GPT-2-like); {handle.name} is an {handle.kind} model. "
            "Load one in the sidebar: e.g. 'gpt2' from the local Hugging Face cache, or a local directory "
            "saved with save_pretrained (safetensors).")
    if not hasattr(handle.model, "get_output_embeddings") or handle.model.get_output_embeddings() is None:
        raise InputError(f"{handle.name} has no language-modelling head (…ForCausalLM / …LMHeadModel) to "
                         "predict tokens with: load the LM version of the model.")


def _eos_ids(handle) -> set[int]:
    ids = getattr(getattr(handle.model, "generation_config", None), "eos_token_id", None)
    if ids is None:
        ids = handle.tokenizer.eos_token_id
    if ids is None:
        return set()
    return {int(i) for i in (ids if isinstance(ids, (list, tuple)) else [ids])}


def generate(handle, prompt: str, *, max_new_tokens: int = 20, do_sample: bool = False, temperature: float = 1.0,
             top_k: int = 0, seed: int = 0, stop_at_eos: bool = True) -> GenerationResult:
    """Continue ``prompt`` with a causal LM, then extract attention once over prompt + continuation.

    Args:
        handle: a loaded causal LM (``handle.kind == "decoder"``).
        prompt: the text to continue (tokenised as everywhere in attnviz: ``handle.encode``).
        max_new_tokens: 1–MAX_NEW_TOKENS; fewer when the model's context would overflow.
        do_sample: False = greedy (argmax); True = sample from softmax(logits / temperature).
        temperature, top_k: sampling settings (top_k 0 = all tokens).
        seed: the sampling seed (same seed, same continuation).
        stop_at_eos: stop after the model's end-of-sequence token.

    Raises:
        InputError: not a causal LM, bad settings, or a prompt that leaves no room to generate.
        ResourceError: out of memory, or attention too large to keep.
    """
    check_causal(handle)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or not (
            1 <= max_new_tokens <= MAX_NEW_TOKENS):
        raise InputError(f"max_new_tokens must be a whole number from 1 to {MAX_NEW_TOKENS}.")
    if do_sample and not (isinstance(temperature, (int, float)) and 0 < temperature <= 100):
        raise InputError("The temperature must be a positive number (e.g. 0.7 or 1.0).")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
        raise InputError("top_k must be 0 (all tokens) or a positive whole number.")
    enc = handle.encode(prompt)
    n_prompt = len(enc)
    room = handle.max_length - n_prompt
    if room < 1:
        raise InputError(f"The prompt has {n_prompt} tokens and fills the model's context of {handle.max_length}: "
                         "shorten it to leave room for the continuation.")
    steps = int(min(max_new_tokens, room))
    _check_size(handle, n_prompt + steps)  # before generating: the one extraction must fit
    ids = enc.inputs["input_ids"]
    eos = _eos_ids(handle) if stop_at_eos else set()
    generator = None
    if do_sample:
        generator = torch.Generator(device=handle.device).manual_seed(int(seed))
    new_ids, probabilities, alternatives, stop_reason = [], [], [], "length"
    past = None
    cache_arg, last_only = _forward_arguments(handle.model)
    for _ in range(steps):
        inputs = {"input_ids": ids if past is None else ids[:, -1:], "attention_mask": torch.ones_like(ids),
                  **last_only}
        if cache_arg is not None:
            inputs["use_cache"] = True
            if past is not None:
                inputs[cache_arg] = past
        out, _ = handle.forward(inputs, need_weights=False)
        if cache_arg is not None:
            past = getattr(out, "cache", None)
            past = getattr(out, "past_key_values", None) if past is None else past
        logits = out.logits[0, -1].float()
        logits = logits[:writable_ids(handle.tokenizer, logits.shape[-1])]  # ids the tokenizer can write
        probs = torch.softmax(logits, dim=-1)
        if do_sample:
            scaled = logits / float(temperature)
            if top_k and top_k < scaled.shape[-1]:
                kth = torch.topk(scaled, int(top_k)).values[-1]
                scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            choice = int(torch.multinomial(torch.softmax(scaled, -1), 1, generator=generator))
        else:
            choice = int(logits.argmax())
        new_ids.append(choice)
        probabilities.append(float(probs[choice]))
        top = torch.topk(probs, min(TOP_ALTERNATIVES, probs.shape[-1]))
        alternatives.append(tuple(zip(handle.tokenizer.convert_ids_to_tokens(top.indices.tolist()),
                                      (float(p) for p in top.values))))
        ids = torch.cat([ids, torch.tensor([[choice]], dtype=ids.dtype, device=ids.device)], dim=1)
        if choice in eos:
            stop_reason = "eos"
            break
    del past
    token_ids = tuple(int(i) for i in ids[0].tolist())
    attention = _extract(handle, ids, enc, new_ids)
    tok = handle.tokenizer
    words = tuple(enc.words) + tuple((tok.decode([i]), (n_prompt + t,)) for t, i in enumerate(new_ids))
    settings = {"max_new_tokens": int(max_new_tokens), "do_sample": bool(do_sample), "stop_at_eos": stop_at_eos}
    if do_sample:
        settings.update(temperature=float(temperature), top_k=int(top_k), seed=int(seed))
    return GenerationResult(
        prompt=prompt, token_ids=token_ids, n_prompt=n_prompt, continuation=tok.decode(new_ids),
        probabilities=np.asarray(probabilities, dtype=np.float32), attention=attention, words=words,
        settings=settings, stop_reason=stop_reason, model_name=handle.name, alternatives=tuple(alternatives))


def _check_size(handle, n: int) -> None:
    L, H = handle.num_layers, handle.num_heads
    if L * H * n * n > limits.MAX_ATTENTION_VALUES:
        raise ResourceError(f"{L} layers × {H} heads × {n}² tokens is {L * H * n * n:,} attention values (limit "
                            f"{limits.MAX_ATTENTION_VALUES:,}): generate fewer tokens or shorten the prompt.")


def _forward_arguments(model) -> tuple[str | None, dict]:
    """(the KV-cache argument's name or None, extra arguments that keep only the last position's logits).

    transformers ≥ 5.2x names the KV cache ``cache``, older models ``past_key_values``; a model with
    neither reruns the whole prefix each step. ``logits_to_keep=1`` skips the LM head (vocabulary × width
    per position) everywhere but the position that predicts.
    """
    params = inspect.signature(model.forward).parameters
    cache = next((name for name in ("cache", "past_key_values") if name in params), None)
    return cache, {"logits_to_keep": 1} if "logits_to_keep" in params else {}


def _extract(handle, ids, enc, new_ids) -> AttentionResult:
    """One forward over prompt + continuation, every layer's weights kept: [layers, heads, N, N]."""
    n = ids.shape[1]
    L, H = handle.num_layers, handle.num_heads
    _check_size(handle, n)
    _, last_only = _forward_arguments(handle.model)
    _, records = handle.forward({"input_ids": ids, "attention_mask": torch.ones_like(ids), **last_only})
    attentions = np.empty((L, H, n, n), dtype=np.float32)
    for layer in range(L):
        weights = records.get(AttentionSite("self", layer))
        if weights is None:
            raise RuntimeError(f"attention weights missing for layer {layer}")
        attentions[layer] = weights[0].float().cpu().numpy()
    new_tokens = tuple(handle.tokenizer.convert_ids_to_tokens(new_ids))
    new_kinds = token_kinds(handle.tokenizer, new_ids, new_tokens)
    segments = np.concatenate([enc.segments, np.where(
        np.array([k in SPECIAL_KINDS for k in new_kinds], dtype=bool), -1, 0).astype(np.int8)])
    return AttentionResult(
        tokens=enc.tokens + new_tokens, attentions=attentions, layers=tuple(range(L)), kinds=enc.kinds + new_kinds,
        segments=segments.astype(np.int8), readout="last", causal=True, model_name=handle.name,
        meta={"n_prompt": len(enc), "max_tokens": handle.max_length, "device": str(handle.device)})


def attribute_generated(handle, result: GenerationResult, step: int, method: str = "integrated_gradients", *,
                        output: str = "probability", **settings):
    """Attribution of p(generated token ``step`` | prompt + earlier tokens) to each of those tokens.

    The explained number is :class:`~attnviz.models.targets.NextTokenTarget` on the exact token ids the
    model saw (no re-tokenisation of the decoded text), so ``result.probabilities[step]`` is f(x).
    """
    if result.model_name and result.model_name != handle.name:
        raise InputError(f"This continuation was generated by {result.model_name}, not {handle.name}.")
    check_causal(handle)
    check_method(method)
    p = result.position(step)
    ids = torch.tensor([result.token_ids[:p]], device=handle.device)
    mask = torch.ones_like(ids)
    att = result.attention
    words = tuple(w for w in result.words if max(w[1]) < p)
    encoding = Encoding({"input_ids": ids, "attention_mask": mask}, att.tokens[:p], att.kinds[:p],
                        att.segments[:p], False, p, words)
    ctx = prepare_encoded(handle, encoding, NextTokenTarget(output=output, token_id=result.token_ids[p]))
    return run(ctx, method, **settings)


__all__ = ["MAX_NEW_TOKENS", "ROWS", "TOP_ALTERNATIVES", "GenerationResult", "attribute_generated", "check_causal", "generate"]
