"""What attnviz knows about individual model families (by ``config.model_type``).

``REFUSED``: families ``load_model`` refuses, with the reason shown to the user. ``EAGER_ONLY``:
families that take attnviz's attention implementation but compute something else than
softmax(QKᵀ·s + mask) in it (differential attention, block-sparse attention...): they are loaded with
``attn_implementation="eager"`` so the weights shown are the model's own. The sweep test
(tests/models/test_family_sweep.py) keeps both tables honest against transformers' auto mappings.
"""

from __future__ import annotations

REFUSED: dict[str, str] = {
    "fnet": "FNet mixes tokens with Fourier transforms: it has no attention weights to show.",
    "mra": "MRA approximates attention with multi-resolution blocks: it reports no attention weights.",
    "rwkv": "RWKV is a recurrent model: it has no token-to-token attention weights.",
    "bros": "BROS is a layout model: it needs the bounding box of every token (bbox), not text alone.",
    "layoutlmv3": "LayoutLMv3 is a document model: it needs token bounding boxes (and images), not text alone.",
    "lilt": "LiLT is a layout model: it needs the bounding box of every token (bbox), not text alone.",
    "lxmert": "LXMERT is a vision-and-language model: it needs visual features with the text.",
    "udop": "UDOP is a document model: it needs token bounding boxes (bbox), not text alone.",
    "vilt": "ViLT is a vision-and-language model: it needs an image with the text.",
    "yoso": "YOSO approximates attention by hashing: it reports no attention weights.",
    "xlstm": "xLSTM is a recurrent model: it has no token-to-token attention weights.",
    # attention that transformers reports in another layout than token × token (not mapped yet)
    "longformer": "Longformer's local-window attention comes as [query, window] weights, not token × token maps.",
    "led": "LED's local-window attention comes as [query, window] weights, not token × token maps.",
    "big_bird": "BigBird's block-sparse attention reports no token-to-token weights.",
    "longt5": "LongT5's local / transient-global attention blocks are not token × token maps.",
    "pegasus_x": "PEGASUS-X's block-local attention reports its weights per block, not as token × token maps.",
    # hybrids: attention in some layers, state-space / recurrent mixing in the others
    "bailing_hybrid": "a hybrid model: its linear-attention layers have no token-to-token weights.",
    "lfm3": "a hybrid model: its convolution layers have no token-to-token weights.",
    "qwen3_5_text": "a hybrid model: its linear-attention (gated delta) layers have no token-to-token weights.",
    "zamba": "a hybrid model: its Mamba layers have no token-to-token weights.",
    "zamba2": "a hybrid model: its Mamba layers have no token-to-token weights.",
}

EAGER_ONLY: dict[str, str] = {
    "diffllama": "differential attention (the difference of two softmax maps)",
    "bigbird_pegasus": "block-sparse attention",
    # Not the sliding windows: both layer types report through the interface. Their learnt attention sink
    # scales the output after the softmax (·sigmoid(logsumexp − sink)), and their eager weights are the softmax
    # before it (rows sum to 1); attnviz's sink path (GPT-OSS) shows the weights with the sink's share taken out
    # (rows sum to that sigmoid), the same output but other numbers. Eager keeps the family's own convention.
    "granite_swa": "its attention sink scales the output after the softmax: its eager weights exclude the sink",
    "granitemoe_swa": "its attention sink scales the output after the softmax: its eager weights exclude the sink",
}


def refusal(model_type: str) -> str | None:
    """Why attnviz refuses this family, or None."""
    return REFUSED.get(model_type)


def eager_only(model_type: str) -> str | None:
    """Why this family runs on the eager path, or None."""
    return EAGER_ONLY.get(model_type)
