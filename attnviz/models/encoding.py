"""A tokenised input and what every layer above needs to label its tokens: the leaf of the library.

Why a module of its own: attention extraction, targets, attribution and the handle all encode text
the same way. Keeping tokenisation, token kinds and the request limits here (importing nothing of
attnviz but the errors) lets every layer above use them without importing the handle back.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError

#: Texts longer than this are refused before they reach a tokenizer.
MAX_TEXT_CHARS = 100_000
#: Refuse requests that would hold more attention values than this (float32: 4 bytes each).
MAX_ATTENTION_VALUES = 400_000_000
#: Token kinds that are not text: never deleted, replaced or counted as words.
SPECIAL_KINDS = ("cls", "sep", "special")
#: Model inputs a tokenizer returns that the model takes.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Encoding:
    """A tokenised input: ids as tensors on the model's device plus what the views need to label tokens."""

    inputs: dict
    tokens: tuple[str, ...]
    kinds: tuple[str, ...]  # per token: "cls", "sep", "special", "punct" or "text"
    segments: np.ndarray  # [n] int: 0 = text, 1 = text_pair, -1 = special token
    truncated: bool
    n_input_tokens: int  # before truncation, specials included
    words: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (word text, its token positions); specials alone

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def special(self) -> np.ndarray:
        """[n] bool: special tokens (CLS, SEP, PAD, MASK…)."""
        return np.array([k in SPECIAL_KINDS for k in self.kinds], dtype=bool)


@dataclass(frozen=True)
class AttentionSite:
    """Where one attention module sits: which stack, which layer."""

    stack: str  # "self" (encoder or decoder-only), "decoder" (enc-dec decoder self), "cross"
    layer: int


def check_text(text, what: str = "text") -> str:
    """Reject what no tokenizer should see; keep every visible character as it is."""
    if not isinstance(text, str):
        raise InputError(f"The {what} must be a string, not {type(text).__name__}.")
    cleaned = "".join(ch for ch in text if ch in "\t\n" or unicodedata.category(ch) not in ("Cc", "Cs"))
    if not cleaned.strip():
        raise InputError(f"The {what} is empty: type a sentence to analyse.")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise InputError(f"The {what} has {len(cleaned):,} characters; the limit is {MAX_TEXT_CHARS:,}.")
    return cleaned


def encode(tokenizer, text: str, text_pair: str | None, *, max_length: int, device) -> Encoding:
    """Check and tokenise one input (a sentence pair as one sequence), truncated to ``max_length``."""
    text = check_text(text, "text")
    if text_pair is not None and text_pair.strip() == "":
        text_pair = None
    if text_pair is not None:
        text_pair = check_text(text_pair, "text_pair")
    tok = tokenizer
    full = tok(text, text_pair, add_special_tokens=True, truncation=False, verbose=False)
    n_full = len(full["input_ids"])
    enc = tok(text, text_pair, add_special_tokens=True, truncation=n_full > max_length, max_length=max_length,
              return_tensors="pt", return_offsets_mapping=bool(getattr(tok, "is_fast", False)))
    ids = enc["input_ids"][0].tolist()
    if not ids:
        raise InputError("The text produced no tokens.")
    tokens = tuple(tok.convert_ids_to_tokens(ids))
    kinds = token_kinds(tok, ids, tokens)
    try:
        seq = enc.sequence_ids(0)
        segments = np.array([-1 if s is None else s for s in seq], dtype=np.int8)
    except (ValueError, AttributeError):  # slow tokenizers
        segments = np.where(np.array([k in SPECIAL_KINDS for k in kinds]), -1, 0).astype(np.int8)
    inputs = {k: v.to(device) for k, v in enc.items() if k in MODEL_INPUTS}
    words = word_groups(enc, tokens, kinds, segments, (text, text_pair))
    return Encoding(inputs, tokens, kinds, segments, n_full > max_length, n_full, words)


def has_chat_template(tokenizer) -> bool:
    """True when the tokenizer carries a chat template (``tokenizer.chat_template``)."""
    return bool(getattr(tokenizer, "chat_template", None))


def encode_chat(tokenizer, text: str, *, max_length: int, device) -> Encoding:
    """``text`` as one user message through the tokenizer's chat template (with the assistant's turn opened).

    The rendered conversation is tokenised as a whole (as ``apply_chat_template(tokenize=True)`` does: no
    extra special tokens); every token outside the message's own characters (role markers, turn tokens,
    the template's BOS) is kind "special" and segment -1, so views that hide special tokens hide them.

    Raises InputError when the tokenizer has no chat template, the template fails, or it rewrites the
    message so that its characters cannot be found in the rendered text.
    """
    text = check_text(text, "text")
    if not has_chat_template(tokenizer):
        raise InputError("This model's tokenizer has no chat template: analyse the text as it is "
                         "(chat_template=False), or load the chat/instruct version of the model.")
    try:
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                 add_generation_prompt=True)
    except Exception as exc:  # noqa: BLE001 - a template's own Jinja error: a typed message
        raise InputError(f"The tokenizer's chat template failed on this text: {type(exc).__name__}: "
                         f"{str(exc)[:200]}") from exc
    content = text if text in rendered else text.strip()
    start = rendered.find(content)
    if start < 0:
        raise InputError("The chat template rewrites the message, so its tokens cannot be told from the "
                         "template's: analyse the text without the template.")
    end = start + len(content)
    tok = tokenizer
    n_full = len(tok(rendered, add_special_tokens=False, verbose=False)["input_ids"])
    fast = bool(getattr(tok, "is_fast", False))
    if fast:
        enc = tok(rendered, add_special_tokens=False, truncation=n_full > max_length, max_length=max_length,
                  return_tensors="pt", return_offsets_mapping=True)
        spans = [tuple(o) for o in enc["offset_mapping"][0].tolist()]
    else:  # slow tokenizers have no offsets: the template's text and the message tokenised piece by piece
        pieces = [rendered[:start], rendered[start:end], rendered[end:]]
        parts = [tok(piece, add_special_tokens=False)["input_ids"] if piece else [] for piece in pieces]
        ids = (parts[0] + parts[1] + parts[2])[:max_length]
        spans = [(0, 0)] * len(parts[0]) + [(start, end)] * len(parts[1]) + [(end, end)] * len(parts[2])
        spans = spans[:max_length]
        enc = tok.pad({"input_ids": [ids]}, return_tensors="pt")
        n_full = sum(len(p) for p in parts)
    ids = enc["input_ids"][0].tolist()
    if not ids:
        raise InputError("The text produced no tokens.")
    tokens = tuple(tok.convert_ids_to_tokens(ids))
    own = token_kinds(tok, ids, tokens)
    inside = [s < end and e > start for s, e in spans]
    kinds = tuple(k if k in SPECIAL_KINDS or inside[i] else "special" for i, k in enumerate(own))
    segments = np.array([0 if inside[i] and kinds[i] not in SPECIAL_KINDS else -1 for i in range(len(ids))],
                        dtype=np.int8)
    inputs = {k: v.to(device) for k, v in enc.items() if k in MODEL_INPUTS}
    if "attention_mask" not in inputs:
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    words = word_groups(enc, tokens, kinds, segments, (rendered, None)) if fast else tuple(
        (tokens[i], (i,)) for i in range(len(tokens)))
    return Encoding(inputs, tokens, kinds, segments, n_full > max_length, n_full, words)


def encode_decoder_text(tokenizer, config, text: str, *, max_length: int, device):
    """An encoder-decoder's decoder input: (ids [1, m], tokens, kinds), starting with its start token."""
    text = check_text(text, "target")
    tok = tokenizer
    ids = tok(text_target=text, truncation=True, max_length=max_length - 1)["input_ids"]
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.pad_token_id
    ids = ([int(start)] if start is not None else []) + list(ids)
    tokens = tuple(tok.convert_ids_to_tokens(ids))
    return torch.tensor([ids], device=device), tokens, token_kinds(tok, ids, tokens)


def token_kinds(tokenizer, ids, tokens) -> tuple[str, ...]:
    """Each token's kind: "cls", "sep", "special", "punct" or "text"."""
    special_ids = set(tokenizer.all_special_ids)
    return tuple(token_kind(t, int(i), tokenizer, special_ids) for t, i in zip(tokens, ids))


def token_kind(token: str, token_id: int, tok, special_ids: set) -> str:
    if token_id in special_ids:
        if token_id == tok.cls_token_id or (tok.cls_token_id is None and token_id == tok.bos_token_id):
            return "cls"
        if token_id == tok.sep_token_id or token_id == tok.eos_token_id:
            return "sep"
        return "special"
    core = token.lstrip("#").lstrip("Ġ▁ ")
    if core and all(unicodedata.category(c).startswith("P") for c in core):
        return "punct"
    return "text"


def word_groups(enc, tokens, kinds, segments, texts) -> tuple:
    """Group subword tokens into words (fast tokenizers' word_ids), with the word's text from the input."""
    try:
        word_ids = enc.word_ids(0)
        offsets = enc["offset_mapping"][0].tolist() if "offset_mapping" in enc else None
    except (ValueError, AttributeError):
        word_ids, offsets = None, None
    groups: list[tuple[tuple, list[int]]] = []
    for i in range(len(tokens)):
        wid = None if word_ids is None else word_ids[i]
        key = ("special", i) if kinds[i] in SPECIAL_KINDS or wid is None else (int(segments[i]), wid)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(i)
        else:
            groups.append((key, [i]))
    words = []
    for key, idx in groups:
        if offsets and key[0] != "special":
            source = texts[key[0]] or ""
            start, end = offsets[idx[0]][0], offsets[idx[-1]][1]
            text = source[start:end] if end > start else "".join(tokens[j] for j in idx)
        else:
            text = "".join(tokens[j].removeprefix("##") if j != idx[0] else tokens[j] for j in idx)
        words.append((text, tuple(idx)))
    return tuple(words)


def replacement_id(tokenizer, baseline: str = "pad") -> int:
    """The token id that stands in for a removed token: ``baseline`` ("pad", "mask" or "unk").

    One fallback order for every caller (single texts, batches, audits, bias probes): the named token,
    else the first of pad, mask, unk the tokenizer has, else end-of-sequence, else 0.
    """
    tok = tokenizer
    choice = {"pad": tok.pad_token_id, "mask": tok.mask_token_id, "unk": tok.unk_token_id}
    if baseline not in choice:
        raise InputError(f"Unknown baseline '{baseline}': use one of {', '.join(choice)}.")
    for cand in (choice[baseline], tok.pad_token_id, tok.mask_token_id, tok.unk_token_id, tok.eos_token_id):
        if cand is not None:
            return int(cand)
    return 0


def writable_ids(tokenizer, n_logits: int) -> int:
    """How many of a model's ``n_logits`` output ids the tokenizer can write: models pad their vocabulary
    (Qwen2: 151,936 rows for 151,665 tokens), and an id past the tokenizer has no token to show or feed back."""
    try:
        return max(1, min(len(tokenizer), int(n_logits)))
    except TypeError:
        return int(n_logits)


def pad_token_id(tokenizer) -> int:
    """What fills padded positions (never attended to): pad, else end-of-sequence, else unk, else 0."""
    tok = tokenizer
    for cand in (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id):
        if cand is not None:
            return int(cand)
    return 0


def pad_batch(rows: list[dict], device, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad per-example model inputs ({name: [n] ids}) into one batch (attention mask included).

    Right padding keeps every real token at the position it has alone (causal LMs read the last real
    token through the attention mask).
    """
    flat = [{k: torch.as_tensor(v).reshape(-1).cpu() for k, v in r.items() if k in MODEL_INPUTS and v is not None}
            for r in rows]  # [n] or [1, n] (an Encoding's inputs) alike
    width = max(len(r["input_ids"]) for r in flat)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    has_tt = all("token_type_ids" in r for r in flat)
    tt = torch.zeros((len(rows), width), dtype=torch.long) if has_tt else None
    for j, r in enumerate(flat):
        n = len(r["input_ids"])
        ids[j, :n] = r["input_ids"]
        mask[j, :n] = 1
        if tt is not None:
            tt[j, :n] = r["token_type_ids"]
    out = {"input_ids": ids, "attention_mask": mask}
    if tt is not None:
        out["token_type_ids"] = tt
    return {k: v.to(device) for k, v in out.items()}
