"""What a method returns (:class:`MethodOutput`) and the Attribution result built from it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import InputError
from ..models.encoding import SPECIAL_KINDS


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


@dataclass(frozen=True)
class Attribution:
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

    def to_json(self) -> str:
        doc = {"format": "attnviz.Attribution", "version": 1}
        for name, value in self.__dict__.items():
            if isinstance(value, np.ndarray):
                value = value.astype(float).tolist()
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            doc[name] = value
        return json.dumps(doc, default=_plain)

    @classmethod
    def from_json(cls, text: str) -> Attribution:
        try:
            doc = json.loads(text)
            if doc.get("format") != "attnviz.Attribution":
                raise InputError("Not an attnviz attribution.")
            words = tuple((w[0], tuple(w[1])) for w in doc.get("words", []))
            return cls(tokens=tuple(doc["tokens"]), scores=np.asarray(doc["scores"], dtype=np.float32),
                       method=doc["method"], target=doc["target"], label=doc["label"], output=doc["output"],
                       kinds=tuple(doc["kinds"]), words=words, delta=doc.get("delta"),
                       base_value=doc.get("base_value"), settings=doc.get("settings", {}),
                       model_name=doc.get("model_name", ""), level=doc.get("level", "token"),
                       signed=bool(doc.get("signed", True)))
        except InputError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InputError(f"Not a valid attribution file: {exc}") from exc


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
