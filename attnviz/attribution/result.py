"""What a method returns (:class:`MethodOutput`) and the Attribution result built from it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..models.encoding import SPECIAL_KINDS
from ..serialise import Serialisable, serialisable, upgrade_legacy_v1


@dataclass(frozen=True)
class MethodOutput:
    """One method's raw answer for one input, before it is labelled with tokens and the target.

    ``scores`` [n]; ``settings`` the settings used (what a reader needs to reproduce it); ``delta`` the
    completeness gap where the method has one; ``base_value`` SHAP's E[f]; ``baseline_output`` f at the
    baseline (IG); ``output`` f(x) when the method computed it itself.
    """

    scores: np.ndarray
    settings: dict = field(default_factory=dict)
    delta: float | None = None
    base_value: float | None = None
    baseline_output: float | None = None
    output: float | None = None


@serialisable(version=2, upgrades={1: upgrade_legacy_v1})  # v1: scores as a list of numbers
@dataclass(frozen=True)
class Attribution(Serialisable):
    """Per-token scores from one method for one target.

    ``scores`` [n] float32: signed for IG, input×gradient, GradientSHAP, occlusion, LIME and SHAP
    (positive pushes f up); non-negative for saliency (gradient L2 norm), rollout and grad×attention.
    ``output`` is f(x); ``delta`` the completeness gap Σφ − (f(x) − f(baseline)) where the method has
    one; ``base_value`` SHAP's E[f] so that base_value + Σφ = f(x).
    """

    tokens: tuple[str, ...]
    scores: np.ndarray
    method: str
    target: str
    label: str
    output: float
    kinds: tuple[str, ...]
    words: tuple[tuple[str, tuple[int, ...]], ...] = ()
    delta: float | None = None
    base_value: float | None = None
    settings: dict = field(default_factory=dict)
    model_name: str = ""
    level: str = "token"
    signed: bool = True  # False for unsigned methods (saliency's gradient norm, attention-based scores)

    def __post_init__(self):
        if np.shape(self.scores) != (len(self.tokens),):
            raise ValueError(f"scores {np.shape(self.scores)} do not match {len(self.tokens)} tokens")
        if len(self.kinds) != len(self.tokens):
            raise ValueError("kinds must have one entry per token")

    @property
    def special(self) -> np.ndarray:
        return np.array([k in SPECIAL_KINDS for k in self.kinds], dtype=bool)

    def to_words(self) -> Attribution:
        """Subword scores summed into words — the same aggregation for every method."""
        if self.level == "word" or not self.words:
            return self
        scores = np.array([self.scores[list(idx)].sum() for _, idx in self.words], dtype=np.float32)
        kinds = tuple(self.kinds[idx[0]] if len(idx) == 1 else "text" for _, idx in self.words)
        tokens = tuple(text for text, _ in self.words)
        words = tuple((text, (i,)) for i, (text, _) in enumerate(self.words))
        return replace(self, tokens=tokens, scores=scores, kinds=kinds, words=words, level="word")

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame({"position": np.arange(len(self.tokens)), "token": list(self.tokens),
                             "kind": list(self.kinds), "score": self.scores, "method": self.method,
                             "target": self.target})
