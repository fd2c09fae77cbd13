"""Tokenise many short sentences once (with the identity term's tokens marked) and batch them.

Padding itself is :func:`attnviz.models.encoding.pad_batch` (right padding, as everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..models.encoding import pad_batch, pad_token_id

DEFAULT_BATCH = 64


@dataclass
class Tokenised:
    """Token ids of each text (specials included), which tokens are special, and spans' tokens."""

    ids: list[list[int]]
    special: list[np.ndarray]  # per text [n] bool: CLS/SEP/MASK/PAD…, never part of a word
    token_type_ids: list[list[int]] | None
    span_tokens: list[np.ndarray] | None  # per text [n] bool: tokens overlapping the given char span

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        return np.array([len(i) for i in self.ids])


def max_tokens(handle) -> int:
    """Sentence-embedding models are read up to their own max_seq_length, as they were trained."""
    return handle.sentence_max_length if getattr(handle, "pooling", None) else handle.max_length


def tokenise(handle, texts: list[str], spans: list[tuple[int, int]] | None = None) -> Tokenised:
    """Tokenise ``texts`` (truncated to the model's limit); ``spans`` are (start, end) character ranges
    whose tokens are marked in ``span_tokens`` (offsets on fast tokenizers, prefix lengths otherwise)."""
    tok = handle.tokenizer
    fast = bool(getattr(tok, "is_fast", False))
    enc = tok(list(texts), add_special_tokens=True, truncation=True, max_length=max_tokens(handle),
              return_offsets_mapping=fast and spans is not None, verbose=False)
    special_ids = np.array(sorted(set(tok.all_special_ids)), dtype=np.int64)
    ids = [list(map(int, row)) for row in enc["input_ids"]]
    if any(len(row) == 0 for row in ids):
        raise InputError("A sentence produced no tokens.")
    special = [np.isin(np.array(row, dtype=np.int64), special_ids) for row in ids]
    tt = [list(map(int, row)) for row in enc["token_type_ids"]] if "token_type_ids" in enc else None
    span_tokens = None
    if spans is not None:
        span_tokens = []
        for i, (start, end) in enumerate(spans):
            if fast:
                offsets = np.array(enc["offset_mapping"][i], dtype=np.int64).reshape(-1, 2)
                mask = (offsets[:, 1] > start) & (offsets[:, 0] < end) & ~special[i]
            else:
                mask = _span_by_prefix(tok, texts[i], start, end, special[i])
            span_tokens.append(mask)
    return Tokenised(ids, special, tt, span_tokens)


def _span_by_prefix(tok, text: str, start: int, end: int, special: np.ndarray) -> np.ndarray:
    """Slow tokenizers: the span's tokens are those the text up to ``end`` adds to the text up to ``start``."""
    before = len(tok(text[:start].rstrip(), add_special_tokens=False)["input_ids"]) if start else 0
    upto = len(tok(text[:end], add_special_tokens=False)["input_ids"])
    lead = int(np.argmax(~special)) if (~special).any() else 0
    mask = np.zeros(len(special), dtype=bool)
    mask[lead + before:lead + upto] = True
    return mask & ~special


def pad(handle, tokenised: Tokenised, rows) -> dict[str, torch.Tensor]:
    """Model inputs for ``rows`` of ``tokenised``: right-padded ids, attention mask (and token types)."""
    tt = tokenised.token_type_ids
    return pad_batch([{"input_ids": tokenised.ids[r], "token_type_ids": None if tt is None else tt[r]} for r in rows],
                     handle.device, pad_token_id(handle.tokenizer))


def stretch(values: np.ndarray, width: int, fill=False) -> np.ndarray:
    """[n] → [width], padded with ``fill`` (aligns per-token masks with a padded batch)."""
    out = np.full(width, fill, dtype=values.dtype)
    out[:len(values)] = values
    return out


def chunks(rows, size: int):
    """Consecutive slices of ``rows`` (sort rows by length first to waste little padding)."""
    rows = list(rows)
    for start in range(0, len(rows), size):
        yield rows[start:start + size]
