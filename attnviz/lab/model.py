"""A small transformer for the Attention Lab, written to be read from top to bottom.

The model is a standard pre-norm transformer encoder:

    tokens → token embedding (+ the left neighbour's, with token_shift) + position embedding
           → L × [ x = x + Attention(LayerNorm(x));  x = x + MLP(LayerNorm(x)) ]
           → LayerNorm → output head (one prediction per position, or one per image)

Everything this lab is about happens in :class:`LabAttention`. For every head, with X the [n, d_model]
input of the layer (after its LayerNorm):

    Q = X·W_Q,  K = X·W_K,  V = X·W_V        [n, d_head] each: what a position asks, offers, and carries
    S = score(Q, K)                          [n, n]: how well query i matches key j
    S[i, j] = −∞ where the mask forbids i to look at j
    A = softmax(S) along each row            [n, n]: the attention weights, every row sums to 1
    O = A·V                                  [n, d_head]: each position mixes the values it attends to

The heads' outputs are concatenated and projected back to d_model by W_O.

Score functions (``config.score``) and masks (``config.mask``) are listed in :data:`SCORES` and :data:`MASKS`.
The model reports the weights A of every head like any pretrained model: ``output_attentions=True``, or
attnviz's attention capture (the dot-product scores with fixed masks run through transformers'
attention interface, so the capture and the sdpa fast path apply to them as to BERT or GPT-2).

``token_shift`` adds a learnt linear map of the left neighbour's token embedding to each position's input
(a width-2 convolution, as in H3 and Based; Arora et al.'s "Zoology", 2023, shows why it helps recall).
A lone position then knows which token came before it, so ONE attention layer can look up "the value
whose key is q"; without it, two layers must first learn a previous-token head and then compose it with
a matching head: in our runs such a two-layer model was still near 30 % on associative recall after 3,000
steps, while one layer with token shift reaches 99 % in about 200.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, pre_tokenizers
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForMaskedLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput

from ..errors import InputError

MODEL_TYPE = "attnviz-lab"

#: score(q_i, k_j) for one head; d is the head width.
SCORES = {
    "scaled_dot": "q·k / √d — the Transformer's score (Vaswani et al., 2017)",
    "dot": "q·k — unscaled dot product (Luong et al., 2015): wide heads give peaky softmaxes",
    "cosine": "τ·cos(q, k) — cosine similarity times a learnt temperature τ per head (Swin Transformer v2)",
    "additive": "wᵀ·tanh(q + k) — additive attention (Bahdanau et al., 2015), a tiny MLP per pair",
}

#: Which keys j a query i may attend to.
MASKS = {
    "full": "every position sees every position",
    "causal": "position i sees positions j ≤ i (a decoder)",
    "local": "position i sees positions with |i − j| ≤ window",
    "strided": "position i sees its neighbours |i − j| < stride and every stride-th position (i − j ≡ 0 mod "
               "stride), the strided pattern of Sparse Transformers (Child et al., 2019)",
    "topk": "position i keeps only its top_k highest-scoring keys (sparse attention, data-dependent)",
}

#: Cosine temperatures are clamped to at most this (as in Swin v2), so a head cannot become a hard argmax.
MAX_TEMPERATURE = 100.0


# --------------------------------------------------------------------------------------------- config
class LabConfig(PretrainedConfig):
    """Everything that defines a lab model. Saved as JSON next to the weights (see checkpoint.py).

    ``vocab`` is the token list of a text model (the tokenizer is rebuilt from it); an image model has
    ``patch_size`` set instead and classifies ``image_size`` × ``image_size`` images into ``num_classes``.
    """

    model_type = MODEL_TYPE

    vocab: list[str] | None = None
    vocab_size: int = 0
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 128
    max_position_embeddings: int = 64
    token_shift: bool = False  # add W·(left neighbour's token embedding) to each position's input
    score: str = "scaled_dot"
    mask: str = "full"
    window: int = 2
    stride: int = 4
    top_k: int = 4
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.0
    cosine_temperature: float = 10.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False
    task: str | None = None
    image_size: int = 8
    patch_size: int | None = None
    num_channels: int = 1
    num_classes: int = 10

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.vocab is not None:
            self.vocab = [str(t) for t in self.vocab]
            self.vocab_size = len(self.vocab)
        check_config(self)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def is_image_model(self) -> bool:
        return self.patch_size is not None

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2 if self.patch_size else 0

    @property
    def uses_attention_interface(self) -> bool:
        """Dot-product scores with a fixed mask are softmax(Q·Kᵀ·s + mask)·V: transformers' attention
        functions (sdpa, attnviz's capture) compute exactly that. Additive scores and top-k masks are
        computed by this file's own code only."""
        return self.score in ("scaled_dot", "dot", "cosine") and self.mask != "topk"


def check_config(config) -> None:
    """Raise InputError (with what to change) for settings the model cannot be built from."""

    def positive_int(name, upper):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
            raise InputError(f"Lab model setting '{name}' must be a whole number from 1 to {upper}, not {value!r}.")

    for name, upper in (("hidden_size", 1024), ("num_hidden_layers", 12), ("num_attention_heads", 16),
                        ("intermediate_size", 4096), ("max_position_embeddings", 1024), ("window", 1024),
                        ("stride", 1024), ("top_k", 1024)):
        positive_int(name, upper)
    if config.hidden_size % config.num_attention_heads:
        raise InputError(f"The width {config.hidden_size} must be a multiple of the number of heads "
                         f"({config.num_attention_heads}).")
    if not isinstance(config.token_shift, bool):
        raise InputError(f"Lab model setting 'token_shift' must be true or false, not {config.token_shift!r}.")
    if config.task is not None and not isinstance(config.task, str):
        raise InputError("Lab model setting 'task' must be a task name.")
    if config.score not in SCORES:
        raise InputError(f"Unknown score function '{config.score}': use one of {', '.join(SCORES)}.")
    if config.mask not in MASKS:
        raise InputError(f"Unknown mask '{config.mask}': use one of {', '.join(MASKS)}.")
    for name in ("attention_dropout", "hidden_dropout"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise InputError(f"Lab model setting '{name}' must be a number in [0, 1), not {value!r}.")
    temp = config.cosine_temperature
    if isinstance(temp, bool) or not isinstance(temp, (int, float)) or not 0 < temp <= MAX_TEMPERATURE:
        raise InputError(f"The cosine temperature must be in (0, {MAX_TEMPERATURE:g}], not {temp!r}.")
    if config.patch_size is None:
        if not config.vocab or len(config.vocab) < 2 or len(set(config.vocab)) != len(config.vocab):
            raise InputError("A text lab model needs 'vocab': a list of at least two distinct tokens.")
        if len(config.vocab) > 10_000 or any(not t or len(t) > 50 or t != t.strip() for t in config.vocab):
            raise InputError("The vocabulary must hold at most 10,000 tokens of 1–50 characters without "
                             "surrounding spaces.")
    else:
        positive_int("patch_size", 64)
        positive_int("image_size", 256)
        positive_int("num_classes", 1000)
        positive_int("num_channels", 4)
        if config.image_size % config.patch_size:
            raise InputError(f"The image size {config.image_size} must be a multiple of the patch size "
                             f"{config.patch_size}.")
        if config.num_patches + 1 > config.max_position_embeddings:
            raise InputError("max_position_embeddings must cover every patch plus the [CLS] token.")


# -------------------------------------------------------------------------------------------- masks
def mask_pattern(kind: str, n: int, *, window: int = 2, stride: int = 4, device=None) -> torch.Tensor:
    """[n, n] bool: may query i (row) attend to key j (column)? Top-k masks are decided later, per input.

    >>> mask_pattern("causal", 3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(n, device=device)[None, :]
    if kind in ("full", "topk"):
        return torch.ones(n, n, dtype=torch.bool, device=device)
    if kind == "causal":
        return j <= i
    if kind == "local":
        return (i - j).abs() <= window
    if kind == "strided":
        return ((i - j).abs() < stride) | ((i - j) % stride == 0)
    raise InputError(f"Unknown mask '{kind}': use one of {', '.join(MASKS)}.")


def keep_top_k(scores: torch.Tensor, allowed: torch.Tensor, k: int) -> torch.Tensor:
    """allowed ∧ "among the k highest scores of its row": [..., q, k] bool (fewer where fewer are allowed)."""
    scores = scores.masked_fill(~allowed, float("-inf"))
    k = min(k, scores.shape[-1])
    top = scores.topk(k, dim=-1).indices
    keep = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter(-1, top, True)
    return keep & allowed


# ----------------------------------------------------------------------------------------- attention
class LabAttention(nn.Module):
    """Multi-head attention with a choice of score function and mask (see the module docstring)."""

    def __init__(self, config: LabConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.is_causal = False  # the mask is always passed explicitly
        d = config.hidden_size
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.o_proj = nn.Linear(d, d)
        if config.score == "cosine":  # log τ per head, so τ stays positive while it is learnt
            self.log_temperature = nn.Parameter(torch.full((self.num_heads,), math.log(config.cosine_temperature)))
        if config.score == "additive":  # w per head: score = wᵀ·tanh(q + k)
            self.additive_vector = nn.Parameter(torch.randn(self.num_heads, self.head_dim) / math.sqrt(self.head_dim))

    # -- the three steps, spelled out --------------------------------------------------------------
    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[b, n, d_model] → [b, heads, n, d_head]."""
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def temperature(self) -> torch.Tensor:
        """[heads] τ of the cosine score (clamped to MAX_TEMPERATURE)."""
        return self.log_temperature.clamp(max=math.log(MAX_TEMPERATURE)).exp()

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """score(q_i, k_j) for every pair: q, k [b, h, n, d_head] → [b, h, n, n]."""
        score = self.config.score
        if score == "scaled_dot":
            return q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        if score == "dot":
            return q @ k.transpose(-1, -2)
        if score == "cosine":
            cos = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-1, -2)
            return self.temperature()[:, None, None] * cos
        # additive: every (i, j) pair goes through tanh — [b, h, n, n, d_head] in memory, fine for small n
        pairs = torch.tanh(q[:, :, :, None, :] + k[:, :, None, :, :])
        return torch.einsum("bhqkd,hd->bhqk", pairs, self.additive_vector)

    def attention_weights(self, q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """A = softmax(masked scores): [b, h, n, n], rows sum to 1, forbidden entries exactly 0."""
        scores = self.scores(q, k)
        if self.config.mask == "topk":
            allowed = keep_top_k(scores, allowed, self.config.top_k)
        scores = scores.masked_fill(~allowed, float("-inf"))
        return torch.softmax(scores, dim=-1)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, *, output_attentions: bool = False):
        """x [b, n, d_model], allowed [b, 1, n, n] bool → (output [b, n, d_model], weights [b, h, n, n] or None)."""
        b, n, _ = x.shape
        q = self.split_heads(self.q_proj(x))
        k = self.split_heads(self.k_proj(x))
        v = self.split_heads(self.v_proj(x))
        dropout = self.config.attention_dropout if self.training else 0.0
        implementation = self.config._attn_implementation or "eager"
        if self.config.uses_attention_interface and implementation != "eager" and not output_attentions:
            # softmax(Q·Kᵀ·scale + mask)·V, computed by transformers' attention function (sdpa by default;
            # attnviz's capture records A here). Cosine: normalise Q and K and fold τ into Q.
            scale = 1.0 / math.sqrt(self.head_dim) if self.config.score == "scaled_dot" else 1.0
            if self.config.score == "cosine":
                q = F.normalize(q, dim=-1) * self.temperature()[:, None, None]
                k = F.normalize(k, dim=-1)
            attention = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, None)
            mask = None if bool(allowed.all()) else allowed
            mixed, weights = attention(self, q, k, v, mask, dropout=dropout, scaling=scale, is_causal=False)
            mixed = mixed.reshape(b, n, -1)  # the interface returns [b, n, heads, d_head]
        else:
            weights = self.attention_weights(q, k, allowed)
            mixed = F.dropout(weights, p=dropout, training=self.training) @ v
            mixed = mixed.transpose(1, 2).reshape(b, n, -1)
        return self.o_proj(mixed), (weights if output_attentions else None)


# ---------------------------------------------------------------------------------------- the stack
class LabBlock(nn.Module):
    """One pre-norm transformer layer: x + Attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: LabConfig, layer_idx: int):
        super().__init__()
        self.ln_attention = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = LabAttention(config, layer_idx)
        self.ln_mlp = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = nn.Sequential(nn.Linear(config.hidden_size, config.intermediate_size), nn.GELU(),
                                 nn.Linear(config.intermediate_size, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x, allowed, *, output_attentions=False):
        attended, weights = self.attention(self.ln_attention(x), allowed, output_attentions=output_attentions)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.mlp(self.ln_mlp(x)))
        return x, weights


class LabEncoder(nn.Module):
    """The layers plus the final LayerNorm; builds the [b, 1, n, n] mask once for all layers."""

    def __init__(self, config: LabConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(LabBlock(config, i) for i in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def allowed(self, n: int, padding_mask: torch.Tensor | None, device) -> torch.Tensor:
        """[b or 1, 1, n, n] bool: the config's pattern, minus padded keys (a position always sees itself)."""
        cfg = self.config
        allowed = mask_pattern(cfg.mask, n, window=cfg.window, stride=cfg.stride, device=device)[None, None]
        if padding_mask is not None and not bool(padding_mask.all()):
            allowed = allowed & padding_mask.bool()[:, None, None, :]
        return allowed | torch.eye(n, dtype=torch.bool, device=device)

    def forward(self, x, padding_mask=None, *, output_attentions=False, output_hidden_states=False):
        allowed = self.allowed(x.shape[1], padding_mask, x.device)
        hidden_states, attentions = [x], []
        for layer in self.layers:
            x, weights = layer(x, allowed, output_attentions=output_attentions)
            hidden_states.append(x)
            attentions.append(weights)
        return (self.norm(x), tuple(hidden_states) if output_hidden_states else None,
                tuple(attentions) if output_attentions else None)


@dataclass
class LabOutput(ModelOutput):
    """logits: [b, n, vocab] (text) or [b, classes] (images); hidden_states: L + 1 tensors [b, n, d]
    (the embeddings, then each layer's output, before the final norm); attentions: L tensors [b, h, n, n]."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class LabPreTrainedModel(PreTrainedModel):
    config_class = LabConfig
    base_model_prefix = "lab"
    main_input_name = "input_ids"
    _supports_sdpa = True
    _supports_attention_backend = True

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, LabAttention):
            if hasattr(module, "log_temperature"):
                nn.init.constant_(module.log_temperature, math.log(self.config.cosine_temperature))
            if hasattr(module, "additive_vector"):
                nn.init.normal_(module.additive_vector, std=1.0 / math.sqrt(module.head_dim))
        if isinstance(module, LabForImageClassification):
            nn.init.normal_(module.cls_token, std=self.config.initializer_range)

    def set_attn_implementation(self, attn_implementation, *args, **kwargs):
        """Additive scores and top-k masks exist only in this file's own code ("eager")."""
        if attn_implementation != "eager" and not self.config.uses_attention_interface:
            raise ValueError(f"{self.config.score} scores with a {self.config.mask} mask are computed by the lab "
                             "model's own code: only attn_implementation='eager' applies.")
        return super().set_attn_implementation(attn_implementation, *args, **kwargs)


class LabForMaskedLM(LabPreTrainedModel):
    """A text model: predicts a token at every position (the answers sit under the '?' tokens).

    Example:
        >>> from attnviz.lab.model import LabConfig, LabForMaskedLM, build_tokenizer
        >>> config = LabConfig(vocab=["[PAD]", "[UNK]", "|", "?", "a", "b"], num_hidden_layers=1)
        >>> model, tok = LabForMaskedLM(config), build_tokenizer(config.vocab)
        >>> out = model(**tok("a b | ? ?", return_tensors="pt"), output_attentions=True)
        >>> out.logits.shape, out.attentions[0].shape      # [1, 5, 6], [1, heads, 5, 5]
    """

    def __init__(self, config: LabConfig):
        super().__init__(config)
        if config.is_image_model:
            raise InputError("This configuration describes an image model: use LabForImageClassification.")
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        if config.token_shift:
            self.shift = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.encoder = LabEncoder(config)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None,
                output_attentions: bool = False, output_hidden_states: bool = False, return_dict=None,
                **kwargs) -> LabOutput:
        """input_ids [b, n] (or inputs_embeds [b, n, d]: word embeddings, positions are added here);
        attention_mask [b, n] 1 = token, 0 = padding; labels [b, n] with -100 where nothing is predicted."""
        kwargs.pop("token_type_ids", None)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids and inputs_embeds.")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        n = inputs_embeds.shape[1]
        if self.config.token_shift:
            previous = F.pad(inputs_embeds, (0, 0, 1, 0))[:, :-1]
            inputs_embeds = inputs_embeds + self.shift(previous)
        if n > self.config.max_position_embeddings:
            raise InputError(f"This lab model reads at most {self.config.max_position_embeddings} tokens; "
                             f"the input has {n}.")
        x = self.dropout(inputs_embeds + self.embed_positions.weight[None, :n])
        last, hidden, attentions = self.encoder(x, attention_mask, output_attentions=output_attentions,
                                                output_hidden_states=output_hidden_states)
        logits = self.head(last)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return LabOutput(loss=loss, logits=logits, last_hidden_state=last, hidden_states=hidden,
                         attentions=attentions)


class LabForImageClassification(LabPreTrainedModel):
    """A tiny vision transformer: [CLS] + one token per patch; the [CLS] token's output is classified."""

    main_input_name = "pixel_values"

    def __init__(self, config: LabConfig):
        super().__init__(config)
        if not config.is_image_model:
            raise InputError("This configuration has no patch_size: use LabForMaskedLM for text.")
        p = config.patch_size
        self.embed_patches = nn.Linear(config.num_channels * p * p, config.hidden_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.embed_positions = nn.Embedding(config.num_patches + 1, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.encoder = LabEncoder(config)
        self.head = nn.Linear(config.hidden_size, config.num_classes)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_patches

    def patches(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[b, (c,) size, size] → [b, patches, c·p·p], patches in reading order (row by row)."""
        if pixel_values.ndim == 3:
            pixel_values = pixel_values[:, None]
        p = self.config.patch_size
        blocks = pixel_values.unfold(2, p, p).unfold(3, p, p)  # [b, c, rows, cols, p, p]
        b, c, rows, cols = blocks.shape[:4]
        return blocks.permute(0, 2, 3, 1, 4, 5).reshape(b, rows * cols, c * p * p)

    def forward(self, pixel_values=None, labels=None, output_attentions: bool = False,
                output_hidden_states: bool = False, return_dict=None, **kwargs) -> LabOutput:
        """pixel_values [b, size, size] scaled to about [0, 1]; labels [b] class indices."""
        tokens = self.embed_patches(self.patches(pixel_values))
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        x = self.dropout(x + self.embed_positions.weight[None, : x.shape[1]])
        last, hidden, attentions = self.encoder(x, None, output_attentions=output_attentions,
                                                output_hidden_states=output_hidden_states)
        logits = self.head(last[:, 0])
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return LabOutput(loss=loss, logits=logits, last_hidden_state=last, hidden_states=hidden,
                         attentions=attentions)


def build_model(config: LabConfig) -> LabPreTrainedModel:
    """The right class for the config (text or image), randomly initialised."""
    cls = LabForImageClassification if config.is_image_model else LabForMaskedLM
    model = cls(config)
    model.config.architectures = [cls.__name__]
    return model


# ---------------------------------------------------------------------------------------- tokenizer
def build_tokenizer(vocab: list[str], *, max_length: int = 64):
    """A word-level fast tokenizer: one token per whitespace-separated word, '[UNK]' for unknown words.

    '|' is the separator and '?' marks where the model must answer (the tokenizer's mask token), so the
    Attribution page's masked-token target explains the first answer.
    """
    ids = {token: i for i, token in enumerate(vocab)}
    core = Tokenizer(models.WordLevel(vocab=ids, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    specials = {name: token for name, token in (("pad_token", "[PAD]"), ("unk_token", "[UNK]"),
                                                 ("sep_token", "|"), ("mask_token", "?")) if token in ids}
    return PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=max_length,
                                   model_input_names=["input_ids", "attention_mask"], **specials)


AutoConfig.register(MODEL_TYPE, LabConfig, exist_ok=True)
AutoModel.register(LabConfig, LabForMaskedLM, exist_ok=True)
AutoModelForMaskedLM.register(LabConfig, LabForMaskedLM, exist_ok=True)
AutoModelForImageClassification.register(LabConfig, LabForImageClassification, exist_ok=True)
