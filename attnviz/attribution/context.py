"""Everything a method needs about one input, built once: ids, embeddings, baselines and f.

Methods never touch the shared model's modules (no hooks): gradient methods differentiate f with
respect to ``inputs_embeds``, perturbation methods call :meth:`AttributionInput.predict_keep`. That is
what makes concurrent sessions safe on one cached model.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..models.encoding import Encoding, pad_token_id, replacement_id
from ..models.targets import Scorer, bind
from .batch import BatchInput

BASELINES = ("pad", "mask", "unk")
_RNG_LOCK = threading.Lock()


@contextlib.contextmanager
def seeded(seed: int):
    """Reproducible sampling for captum methods that draw from the global torch/numpy RNGs.

    Those RNGs are process-wide, so concurrent sessions would steal each other's draws: the lock
    serialises the (short) sampling methods and the previous RNG states are restored afterwards.
    """
    with _RNG_LOCK:
        torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            torch.random.set_rng_state(torch_state)
            np.random.set_state(np_state)


@dataclass
class AttributionInput:
    handle: object
    encoding: object
    scorer: Scorer
    input_ids: torch.Tensor  # [1, n]
    attention_mask: torch.Tensor  # [1, n]
    token_type_ids: torch.Tensor | None
    embeds: torch.Tensor  # [1, n, d] word embeddings (the model adds positions itself)

    @property
    def n(self) -> int:
        return self.input_ids.shape[1]

    @property
    def fixed_mask(self) -> np.ndarray:
        """[n] bool: tokens no perturbation removes or replaces (specials, the predicted mask)."""
        mask = np.zeros(self.n, dtype=bool)
        mask[list(self.scorer.fixed)] = True
        return mask

    # ------------------------------------------------------------ baselines
    def replacement_id(self, baseline: str) -> int:
        return replacement_id(self.handle.tokenizer, baseline)

    def baseline_ids(self, baseline: str) -> torch.Tensor:
        """The input with every non-fixed token replaced (specials kept, as METHODS.md advises)."""
        ids = self.input_ids.clone()
        keep = torch.as_tensor(self.fixed_mask, device=ids.device)
        ids[0, ~keep] = self.replacement_id(baseline)
        return ids

    def baseline_embeds(self, baseline: str) -> torch.Tensor:
        with torch.no_grad():
            return self.handle.model.get_input_embeddings()(self.baseline_ids(baseline))

    # ---------------------------------------------------------------- f
    def forward_embeds(self, embeds: torch.Tensor) -> torch.Tensor:
        """f for a batch of embedded inputs [b, n, d] (all the same length as the input)."""
        b = embeds.shape[0]
        tt = None if self.token_type_ids is None else self.token_type_ids.expand(b, -1)
        return self.scorer(inputs_embeds=embeds, attention_mask=self.attention_mask.expand(b, -1),
                           token_type_ids=tt)

    def batch(self) -> BatchInput:
        """This input as a batch of one, for the batched gradient methods."""
        fixed = torch.as_tensor(self.fixed_mask, device=self.input_ids.device)[None]
        return BatchInput(self.handle, self.input_ids, self.attention_mask, self.token_type_ids, fixed,
                          self.scorer.fn, None)  # index None: the class the scorer was bound to

    def output(self) -> float:
        with torch.no_grad():
            return float(self.forward_embeds(self.embeds)[0])

    def predict_keep(self, keep_masks: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """f for inputs with tokens deleted: ``keep_masks`` [m, n] bool → [m] (fixed tokens always kept).

        Deletion, not replacement: no [MASK]/[PAD] the model never saw in this position.
        """
        keep_masks = np.asarray(keep_masks, dtype=bool) | self.fixed_mask
        ids = self.input_ids[0]
        tt = None if self.token_type_ids is None else self.token_type_ids[0]
        pad = pad_token_id(self.handle.tokenizer)
        results = []
        with torch.inference_mode():
            for start in range(0, len(keep_masks), batch_size):
                chunk = keep_masks[start:start + batch_size]
                lengths = chunk.sum(1)
                width = int(lengths.max())
                batch_ids = torch.full((len(chunk), width), pad, dtype=ids.dtype, device=ids.device)
                batch_mask = torch.zeros((len(chunk), width), dtype=self.attention_mask.dtype, device=ids.device)
                batch_tt = None if tt is None else torch.zeros((len(chunk), width), dtype=tt.dtype, device=ids.device)
                for row, keep in enumerate(chunk):
                    idx = torch.as_tensor(np.flatnonzero(keep), device=ids.device)
                    batch_ids[row, :len(idx)] = ids[idx]
                    batch_mask[row, :len(idx)] = 1
                    if batch_tt is not None:
                        batch_tt[row, :len(idx)] = tt[idx]
                scores = self.scorer(input_ids=batch_ids, attention_mask=batch_mask, token_type_ids=batch_tt)
                results.append(scores.float().cpu().numpy())
        return np.concatenate(results) if results else np.zeros(0, dtype=np.float32)


def prepare(handle, text: str, text_pair: str | None, target, *, chat_template: bool = False) -> AttributionInput:
    """Tokenise (up to the model's limit) and bind the target for one input. ``chat_template``: ``text`` is a
    user message through the tokenizer's chat template (its tokens are scored too, kind "special")."""
    if handle.kind == "encoder-decoder":
        raise InputError("Attribution for encoder-decoder models is not supported yet; attention views are.")
    encoding = (handle.encode(text, text_pair, chat_template=True) if chat_template else
                handle.encode(text, text_pair, max_length=handle.sentence_max_length if handle.pooling else None))
    return prepare_encoded(handle, encoding, target)


def prepare_encoded(handle, encoding: Encoding, target) -> AttributionInput:
    """Bind the target for an input already tokenised (e.g. generated ids that must not be re-tokenised)."""
    scorer = bind(handle, target, encoding)
    inputs = encoding.inputs
    with torch.no_grad():
        embeds = handle.model.get_input_embeddings()(inputs["input_ids"])
    return AttributionInput(handle, encoding, scorer, inputs["input_ids"], inputs["attention_mask"],
                            inputs.get("token_type_ids"), embeds)
