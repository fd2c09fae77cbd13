"""Many inputs as one right-padded batch for the gradient methods: the one place they are computed.

A single text is a batch of one (:meth:`attnviz.attribution.context.AttributionInput.batch`); audits
and bias probes build larger batches from already-tokenised rows. Each row's f depends on its own row
only, so the gradient of Σ_rows f is every row's own gradient, and Integrated Gradients expands the
rows × steps through captum's ``additional_forward_args``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from ..models.encoding import pad_batch, pad_token_id, replacement_id

#: ``score(outputs, attention_mask, input_ids, index) -> [b]``: f for each row of a batch; ``index`` [b] is
#: the class each row explains where the target has classes (None: the class the score was bound to).
Score = Callable[..., torch.Tensor]


@dataclass
class BatchInput:
    """Right-padded inputs, which positions are fixed (never replaced), and f per row."""

    handle: object
    input_ids: torch.Tensor  # [b, w]
    attention_mask: torch.Tensor  # [b, w]
    token_type_ids: torch.Tensor | None  # [b, w]
    fixed: torch.Tensor  # [b, w] bool: special tokens, a predicted mask, padding
    score: Score
    index: torch.Tensor | None  # [b] long: the class each row explains; None: the one the score was bound to

    @cached_property
    def embeds(self) -> torch.Tensor:
        """[b, w, d] the input's word embeddings (the model adds positions itself)."""
        with torch.no_grad():
            return self.handle.model.get_input_embeddings()(self.input_ids).detach()

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """The batch as the model takes it from token ids."""
        inputs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.token_type_ids is not None:
            inputs["token_type_ids"] = self.token_type_ids
        return inputs

    @classmethod
    def from_rows(cls, handle, rows: list[dict], fixed: list[np.ndarray], score: Score,
                  index: torch.Tensor | None = None) -> BatchInput:
        """``rows``: per example {"input_ids": [n], "token_type_ids": [n] (optional)}; ``fixed``: per
        example [n] bool. Padding is fixed too."""
        inputs = pad_batch(rows, handle.device, pad_token_id(handle.tokenizer))
        width = inputs["input_ids"].shape[1]
        fixed_mask = torch.ones((len(rows), width), dtype=torch.bool)
        for j, f in enumerate(fixed):
            fixed_mask[j, :len(f)] = torch.as_tensor(np.asarray(f, dtype=bool))
        return cls(handle, inputs["input_ids"], inputs["attention_mask"], inputs.get("token_type_ids"),
                   fixed_mask.to(handle.device), score, None if index is None else index.to(handle.device))

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def lengths(self) -> list[int]:
        return self.attention_mask.sum(-1).tolist()

    def args(self) -> tuple:
        """What f needs besides the embeddings, each with the batch as its first dimension."""
        extra = (self.token_type_ids,) if self.token_type_ids is not None else ()
        return (self.attention_mask, self.input_ids, self.index, *extra)

    def forward(self, embeds, attention_mask, input_ids, index, *token_types) -> torch.Tensor:
        kwargs = {"inputs_embeds": embeds, "attention_mask": attention_mask}
        if token_types:
            kwargs["token_type_ids"] = token_types[0]
        return self.score(self.handle.model(**kwargs), attention_mask, input_ids, index)

    def baseline_ids(self, baseline: str) -> torch.Tensor:
        """Every non-fixed token replaced by the ``baseline`` token (specials and padding kept)."""
        ids = self.input_ids.clone()
        ids[~self.fixed] = replacement_id(self.handle.tokenizer, baseline)
        return ids

    def baseline_embeds(self, baseline: str) -> torch.Tensor:
        with torch.no_grad():
            return self.handle.model.get_input_embeddings()(self.baseline_ids(baseline))

    def outputs(self, embeds: torch.Tensor | None = None) -> np.ndarray:
        """[b] f of each row (at ``embeds``, default the input itself)."""
        with torch.no_grad():
            f = self.forward(self.embeds if embeds is None else embeds, *self.args())
        return f.detach().float().cpu().numpy()

    def input_gradients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(f [b], ∂f/∂e [b, w, d]) from one forward and one backward over the whole batch."""
        with torch.enable_grad():
            x = self.embeds.clone().requires_grad_(True)
            f = self.forward(x, *self.args())
            grad = torch.autograd.grad(f.sum(), x)[0]
        return f.detach(), grad

    def per_row(self, values: torch.Tensor) -> list[np.ndarray]:
        """[b, w] → each row's own [n] float32 scores (padding dropped)."""
        values = values.detach().float().cpu().numpy()
        return [values[j, :n].astype(np.float32) for j, n in enumerate(self.lengths)]
