"""Step through one attention head by hand: X → Q, K, V → scores → mask → softmax → weights × V.

    >>> model = attnviz.load_model()                        # bundled MiniLM (BERT-like)
    >>> step = step_through(model, "The cat sat on the mat.", layer=2, head=5)
    >>> step.q.shape, step.weights.shape                     # [n, d_head], [n, n]
    >>> step.max_weight_difference, step.max_output_difference   # both ~1e-7: the arithmetic is the model's

Everything is recomputed from the layer's input and the layer's own projection weights. The layer input
comes from the model's ``output_hidden_states`` (no hooks are put on the shared model); the two checks
compare the hand-computed weights with ``handle.attention(text)`` and the hand-computed output of the
whole attention module (all heads, and its output projection where it has one) with what the module's
own ``forward`` returns for the same input.

Supported: BERT-like encoders (BERT, RoBERTa, ELECTRA, MiniLM, …: ``query``/``key``/``value``
projections), GPT-2-like decoders (fused ``c_attn``), and the lab's own models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .model import keep_top_k

#: Score functions a student can swap in on the same Q and K.
RESCORE = {
    "scaled_dot": "q·k / √d",
    "dot": "q·k",
    "cosine": "τ · cos(q, k)",
}


@dataclass(frozen=True)
class StepThrough:
    """One head of one layer for one input; arrays are float32 numpy.

    Shapes: x [n, d_model]; q, k, v, output, module_output_head [n, d_head]; scores, mask, weights,
    model_weights [n, n] (rows: queries, columns: keys). ``mask`` is True where query i may see key j.
    """

    tokens: tuple[str, ...]
    layer: int
    head: int
    family: str
    score: str
    scale: float
    x: np.ndarray
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    scores: np.ndarray
    mask: np.ndarray
    weights: np.ndarray
    output: np.ndarray
    model_weights: np.ndarray
    max_weight_difference: float
    max_output_difference: float
    num_heads: int
    num_layers: int
    mask_kind: str = "full"
    top_k: int | None = None

    @property
    def masked_scores(self) -> np.ndarray:
        """scores with −∞ where the mask forbids (what goes into the softmax)."""
        return np.where(self.mask, self.scores, -np.inf).astype(np.float32)

    @property
    def formula(self) -> str:
        return {
            "scaled_dot": f"S = Q·Kᵀ · {self.scale:.4g}  (= 1/√{self.q.shape[1]})",
            "dot": "S = Q·Kᵀ",
            "cosine": f"S = τ · cos(Q, K),  τ = {self.scale:.4g}",
            "additive": "S[i, j] = wᵀ·tanh(q_i + k_j)",
        }.get(self.score, self.score)


def rescore(step: StepThrough, score: str, *, temperature: float = 10.0) -> np.ndarray:
    """The weights this head would have with another score function on the same Q and K and mask.

    Args:
        score: one of :data:`RESCORE` ("scaled_dot", "dot", "cosine").
        temperature: τ for "cosine" (cos lies in [−1, 1], so τ sets how peaked the softmax can get).
    Returns:
        [n, n] weights, rows summing to 1.
    """
    if score not in RESCORE:
        raise InputError(f"Unknown score function '{score}': use one of {', '.join(RESCORE)}.")
    if not temperature > 0:
        raise InputError("The temperature must be positive.")
    q, k = torch.from_numpy(step.q).double(), torch.from_numpy(step.k).double()
    if score == "scaled_dot":
        scores = q @ k.T / math.sqrt(q.shape[1])
    elif score == "dot":
        scores = q @ k.T
    else:
        scores = temperature * (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).T)
    allowed = torch.from_numpy(step.mask.copy())
    if step.mask_kind == "topk" and step.top_k:
        allowed = keep_top_k(scores, allowed, step.top_k)
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1).float().numpy()


# ------------------------------------------------------------------------------------- per family
class _Site:
    """How to read one layer's attention: its input, projections, mask and own forward."""

    family = ""

    def __init__(self, handle, layer: int):
        self.handle, self.layer = handle, layer

    def attention_input(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden

    def projections(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def allowed(self, n: int) -> torch.Tensor:
        return torch.ones(n, n, dtype=torch.bool)

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """[heads, n, d] → [heads, n, n] (scaled dot product unless a family says otherwise)."""
        return q @ k.transpose(-1, -2) * self.scale

    def project_output(self, mixed: torch.Tensor) -> torch.Tensor:
        return mixed

    def module_output(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _BertSite(_Site):
    family = "bert"

    def __init__(self, handle, layer):
        super().__init__(handle, layer)
        self.module = handle.model.base_model.encoder.layer[layer].attention.self
        self.scale = float(getattr(self.module, "scaling", self.module.attention_head_size ** -0.5))
        self.score, self.mask_kind, self.top_k = "scaled_dot", "full", None

    def projections(self, x):
        m = self.module
        return m.query(x), m.key(x), m.value(x)

    def module_output(self, x):
        return self.module(x[None], attention_mask=None)[0][0]


class _GPT2Site(_Site):
    family = "gpt2"

    def __init__(self, handle, layer):
        super().__init__(handle, layer)
        self.block = handle.model.base_model.h[layer]
        self.module = self.block.attn
        self.scale = float(self.module.scaling)
        self.score, self.mask_kind, self.top_k = "scaled_dot", "causal", None

    def attention_input(self, hidden):
        return self.block.ln_1(hidden)

    def projections(self, x):
        return self.module.c_attn(x).split(self.module.split_size, dim=-1)

    def allowed(self, n):
        return torch.ones(n, n, dtype=torch.bool).tril()

    def project_output(self, mixed):
        return self.module.c_proj(mixed)

    def module_output(self, x):
        return self.module(x[None])[0][0]


class _LabSite(_Site):
    family = "lab"

    def __init__(self, handle, layer):
        super().__init__(handle, layer)
        self.model = handle.model
        self.block = self.model.encoder.layers[layer]
        self.module = self.block.attention
        config = self.model.config
        self.score, self.mask_kind = config.score, config.mask
        self.top_k = config.top_k if config.mask == "topk" else None
        self.scale = {"scaled_dot": 1 / math.sqrt(config.head_dim), "dot": 1.0}.get(config.score, 1.0)

    def attention_input(self, hidden):
        return self.block.ln_attention(hidden)

    def projections(self, x):
        m = self.module
        return m.q_proj(x), m.k_proj(x), m.v_proj(x)

    def allowed(self, n):
        return self.model.encoder.allowed(n, None, torch.device("cpu"))[0, 0].cpu()

    def scores(self, q, k):
        # the lab's own score function, the same code the model runs ([heads, n, d] → [heads, n, n])
        return self.module.scores(q[None], k[None])[0]

    def project_output(self, mixed):
        return self.module.o_proj(mixed)

    def module_output(self, x):
        n = x.shape[0]
        allowed = self.model.encoder.allowed(n, None, x.device)
        return self.module(x[None], allowed)[0][0]


def _site(handle, layer: int) -> _Site:
    model = handle.model
    base = model.base_model
    if getattr(model.config, "model_type", "") == "attnviz-lab":
        if model.config.is_image_model:
            raise InputError("The step-through reads text: use a text lab model (not the digits model).")
        return _LabSite(handle, layer)
    encoder = getattr(base, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is not None and hasattr(getattr(getattr(layers[0], "attention", None), "self", None), "query"):
        return _BertSite(handle, layer)
    if hasattr(base, "h") and hasattr(getattr(base.h[0], "attn", None), "c_attn"):
        return _GPT2Site(handle, layer)
    raise InputError(f"The step-through supports BERT-like encoders, GPT-2-like decoders and lab models; "
                     f"{type(model).__name__} is none of these.")


# ------------------------------------------------------------------------------------------- main
def step_through(handle, text: str, *, layer: int = 0, head: int = 0) -> StepThrough:
    """Recompute one head by hand for ``text`` and check it against the model (see the module docstring).

    Args:
        handle: a :class:`attnviz.ModelHandle` (the bundled MiniLM, a GPT-2, a lab model, …).
        text: the input; tokenised exactly as the Attention page does it.
        layer, head: which head (negative layer indices count from the end).
    """
    if handle.kind == "encoder-decoder":
        raise InputError("The step-through covers encoders and decoders, not encoder-decoder models.")
    n_layers, n_heads = handle.num_layers, handle.num_heads
    if not isinstance(layer, (int, np.integer)) or not -n_layers <= layer < n_layers:
        raise InputError(f"Layer {layer!r} does not exist: this model has layers 0–{n_layers - 1}.")
    if not isinstance(head, (int, np.integer)) or not 0 <= head < n_heads:
        raise InputError(f"Head {head!r} does not exist: this model has heads 0–{n_heads - 1}.")
    layer = int(layer) % n_layers
    site = _site(handle, layer)
    encoding = handle.encode(text)
    n = len(encoding.tokens)
    if n > 256:
        raise InputError(f"The step-through shows every number: keep the input under 256 tokens (it has {n}).")

    with torch.inference_mode():
        hidden = handle.model(**encoding.inputs, output_hidden_states=True).hidden_states[layer][0].float()
        x = site.attention_input(hidden)
        q_all, k_all, v_all = (t.reshape(n, n_heads, -1).transpose(0, 1) for t in site.projections(x))
        scores = site.scores(q_all, k_all)  # [heads, n, n]
        allowed = site.allowed(n).to(scores.device)
        allowed_heads = allowed.expand_as(scores)
        if site.mask_kind == "topk":
            allowed_heads = keep_top_k(scores, allowed_heads, site.top_k)
        weights = torch.softmax(scores.masked_fill(~allowed_heads, float("-inf")), dim=-1)
        mixed = weights @ v_all  # [heads, n, d_head]
        mine = site.project_output(mixed.transpose(0, 1).reshape(n, -1))
        theirs = site.module_output(x)
    result = handle.attention(text, layers=[layer])
    model_weights = result.attentions[0, head]
    weights_np = weights[head].float().cpu().numpy()
    if tuple(result.tokens) != tuple(encoding.tokens):  # pragma: no cover - the same tokenizer call
        raise RuntimeError("tokenisation differs between the step-through and the attention extraction")
    temperature = None
    if site.score == "cosine":
        temperature = float(site.module.temperature()[head])
    return StepThrough(
        tokens=encoding.tokens, layer=layer, head=int(head), family=site.family, score=site.score,
        scale=temperature if temperature is not None else site.scale,
        x=x.float().cpu().numpy(), q=q_all[head].float().cpu().numpy(), k=k_all[head].float().cpu().numpy(),
        v=v_all[head].float().cpu().numpy(), scores=scores[head].float().cpu().numpy(),
        mask=allowed_heads[head].cpu().numpy(), weights=weights_np,
        output=mixed[head].float().cpu().numpy(), model_weights=model_weights,
        max_weight_difference=float(np.abs(weights_np - model_weights).max()),
        max_output_difference=float((mine - theirs).abs().max()),
        num_heads=n_heads, num_layers=n_layers, mask_kind=site.mask_kind, top_k=site.top_k,
    )
