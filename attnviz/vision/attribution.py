"""Which patches made an image classifier choose a class: gradients, occlusion, SHAP and attention rules.

f(x) is the logit of the explained class (the predicted one unless given). Every method returns one score
per patch ([rows, cols], the grid of the model's input). "Removing" a patch always means replacing its
pixels with the **baseline**: the image processor's mean colour, i.e. 0 after normalisation (a flat grey
for ViT's 0.5/0.5 statistics); the same baseline is IG's starting image.

Methods (``METHODS``):
    saliency              Σ over the patch's pixels and channels of |∂f/∂x| (Simonyan et al. 2014)
    integrated_gradients  Σ over the patch of (x − x′)·mean_α ∂f/∂x(x′ + α(x − x′)), midpoint rule; the
                          scores sum to f(x) − f(x′) up to the reported ``completeness_gap``
    occlusion             f(x) − f(x with that patch replaced by the baseline)
    shap                  KernelSHAP (the shap package) over superpixels of b×b patches, absent = baseline;
                          each patch gets its superpixel's value divided by the patches in it
    chefer                Chefer et al. (ICCV 2021) generic rule: R = I, R ← R + mean_h[(∂f/∂A ⊙ A)⁺]·R,
                          read from the [CLS] row of R − I over the patches
    rollout               attention rollout's [CLS] row over the patches (no class: for comparison)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..attention import attention_rollout
from ..attribution.shap_method import import_shap
from ..errors import InputError
from ..models import capture as _capture
from ..serialise import Serialisable, serialisable
from .images import ImageEncoding

METHODS = {
    "integrated_gradients": "Integrated gradients", "saliency": "Saliency (|gradient|)",
    "occlusion": "Occlusion (patch)", "shap": "SHAP (patch superpixels)", "chefer": "Chefer (grad × attention)",
    "rollout": "Attention rollout",
}
BASELINE = "the image processor's mean colour (0 after normalisation)"
_CHUNK = 32


@serialisable(version=1)
@dataclass(frozen=True)
class ImageAttribution(Serialisable):
    """One method's patch scores for one class of one image: ``scores`` [rows, cols]."""

    method: str
    scores: np.ndarray
    target: int
    label: str
    value: float  # f(x): the explained class's logit
    baseline: str = BASELINE
    model_name: str = ""
    settings: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return METHODS.get(self.method, self.method)

    def to_dataframe(self) -> pd.DataFrame:
        rows, cols = self.scores.shape
        r, c = np.divmod(np.arange(rows * cols), cols)
        return pd.DataFrame({"row": r, "col": c, "patch": [f"r{i}c{j}" for i, j in zip(r, c)],
                             "score": self.scores.ravel()})


@serialisable(version=1)
@dataclass(frozen=True)
class ImageTextSimilarity(Serialisable):
    """An image against several captions: ``cosine`` [k] (the explained numbers), ``logits`` = cosine ×
    ``logit_scale`` (what CLIP's softmax reads) and ``probabilities`` = softmax over the captions."""

    captions: tuple[str, ...]
    cosine: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    logit_scale: float
    model_name: str = ""

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame({"caption": list(self.captions), "cosine": self.cosine, "logit": self.logits,
                             "probability": self.probabilities})


@serialisable(version=1)
@dataclass(frozen=True)
class TokenScores(Serialisable):
    """One score per caption token (``tokens``), e.g. the drop in similarity when that token is deleted."""

    tokens: tuple[str, ...]
    scores: np.ndarray
    method: str
    settings: dict = field(default_factory=dict)

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame({"token": list(self.tokens), "score": self.scores})


def similarity_occlusion(handle, enc: ImageEncoding, text_inputs: dict) -> tuple[ImageAttribution, TokenScores]:
    """Which patches and which words drive cos(image, caption): occlusion on both sides.

    Patches: cos(x, t) − cos(x with that patch = the baseline, t). Tokens: cos(x, t) − cos(x, t without that
    token) (deleted from the sequence; the special tokens that frame the caption are kept and not scored).
    """
    ids, mask = text_inputs["input_ids"], text_inputs["attention_mask"]
    n = enc.patch_grid[0] * enc.patch_grid[1]
    with torch.inference_mode():
        text_vec = handle.text_embedding(ids, mask)[0]
        image_vec = handle.image_embedding(enc.pixel_values)[0]
        full = float(text_vec @ image_vec)
        keep = ~torch.eye(n, dtype=torch.bool, device=enc.pixel_values.device)
        images = masked_images(enc, keep)
        occluded = torch.cat([handle.image_embedding(images[i:i + _CHUNK]) @ text_vec
                              for i in range(0, n, _CHUNK)])
        special = set(handle.tokenizer.all_special_ids)
        token_ids = ids[0].tolist()
        drops = []
        for j, tok in enumerate(token_ids):
            if tok in special:
                drops.append(0.0)
                continue
            short = torch.cat([ids[:, :j], ids[:, j + 1:]], dim=1)
            drops.append(full - float(handle.text_embedding(short, torch.ones_like(short))[0] @ image_vec))
    patches = ImageAttribution(method="occlusion", scores=(full - occluded).cpu().numpy().astype(np.float32)
                               .reshape(enc.patch_grid), target=-1, label="caption", value=full,
                               model_name=handle.name, settings={"explained": "cosine(image, caption)",
                                                                 "replacement": BASELINE})
    tokens = TokenScores(tokens=tuple(handle.tokenizer.convert_ids_to_tokens(token_ids)),
                         scores=np.asarray(drops, dtype=np.float32), method="deletion",
                         settings={"explained": "cosine(image, caption)", "special tokens": "kept, not scored"})
    return patches, tokens


def _logits(handle, pixels: torch.Tensor) -> torch.Tensor:
    out = handle.model(pixel_values=pixels)
    return out.logits.float()


def class_probabilities(handle, enc: ImageEncoding) -> dict[str, float]:
    _require_classifier(handle)
    with torch.inference_mode():
        probs = torch.softmax(_logits(handle, enc.pixel_values)[0], -1).cpu().numpy()
    order = np.argsort(-probs)
    return {handle.labels.get(int(i), str(int(i))): float(probs[i]) for i in order}


def _require_classifier(handle) -> None:
    if not handle.is_classifier:
        raise InputError(f"{handle.name} has no classification head: image attribution explains a class of an "
                         "image classifier (e.g. ViTForImageClassification).")


def attribute_image(handle, enc: ImageEncoding, method: str = "integrated_gradients", *, target=None,
                    **settings) -> ImageAttribution:
    """One method's patch scores for class ``target`` (an index or label; None: the predicted class)."""
    if method not in METHODS:
        raise InputError(f"Unknown image attribution method '{method}': use one of {', '.join(METHODS)}.")
    if method != "rollout":
        _require_classifier(handle)
    with torch.inference_mode():
        logits = _logits(handle, enc.pixel_values)[0] if handle.is_classifier else None
    index = _target_index(handle, target, logits)
    scores, extra = _FUNCTIONS[method](handle, enc, index, **settings)
    value = float(logits[index]) if logits is not None else float("nan")
    return ImageAttribution(method=method, scores=np.asarray(scores, dtype=np.float32).reshape(enc.patch_grid),
                            target=index, label=handle.labels.get(index, str(index)), value=value,
                            model_name=handle.name, settings=extra)


def _target_index(handle, target, logits) -> int:
    if logits is None:
        return -1
    if target is None:
        return int(logits.argmax())
    if isinstance(target, str) and not target.isdigit():
        by_label = {v: k for k, v in handle.labels.items()}
        if target not in by_label:
            raise InputError(f"'{target[:80]}' is not one of this model's classes.")
        return by_label[target]
    index = int(target)
    if not 0 <= index < logits.shape[0]:
        raise InputError(f"Class {index} does not exist: this model has {logits.shape[0]} classes.")
    return index


def _patch_sum(pixel_map: torch.Tensor, enc: ImageEncoding) -> np.ndarray:
    """[3, H, W] → [rows·cols]: summed over channels and each patch's pixels (pixels past the grid dropped)."""
    rows, cols = enc.patch_grid
    p = enc.patch_size
    crop = pixel_map.sum(0)[: rows * p, : cols * p]
    return crop.reshape(rows, p, cols, p).sum(dim=(1, 3)).reshape(-1).double().cpu().numpy()


def batched_target(handle, images: torch.Tensor, index: int) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([_logits(handle, images[i:i + _CHUNK])[:, index] for i in range(0, len(images), _CHUNK)])


def saliency(handle, enc, index):
    x = enc.pixel_values.clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(_logits(handle, x)[0, index], x)
    return _patch_sum(grad[0].abs(), enc), {"aggregation": "Σ |∂f/∂x| over the patch's pixels and channels"}


def integrated_gradients(handle, enc, index, *, n_steps: int = 32):
    x = enc.pixel_values
    baseline = torch.zeros_like(x)
    alphas = (torch.arange(n_steps, dtype=torch.float32, device=x.device) + 0.5) / n_steps
    total = torch.zeros_like(x[0])
    for start in range(0, n_steps, _CHUNK):
        a = alphas[start:start + _CHUNK].to(x.dtype)[:, None, None, None]
        path = (baseline + a * (x - baseline)).requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(_logits(handle, path)[:, index].sum(), path)
        total += grad.sum(0)
    scores = _patch_sum((x - baseline)[0] * total / n_steps, enc)
    ends = batched_target(handle, torch.cat([x, baseline]), index)
    gap = float(scores.sum() - (ends[0] - ends[1]))
    return scores, {"n_steps": n_steps, "baseline": BASELINE, "completeness_gap": gap}


def masked_images(enc: ImageEncoding, keep: torch.Tensor) -> torch.Tensor:
    """[k, rows·cols] bool → k images where the patches not kept are the baseline (0)."""
    rows, cols = enc.patch_grid
    p = enc.patch_size
    mask = keep.reshape(-1, 1, rows, cols).to(enc.pixel_values.dtype)
    mask = mask.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)
    h, w = enc.pixel_values.shape[-2:]
    full = torch.ones(len(keep), 1, h, w, dtype=mask.dtype, device=mask.device)
    full[:, :, : rows * p, : cols * p] = mask
    return enc.pixel_values * full


def occlusion(handle, enc, index):
    n = enc.patch_grid[0] * enc.patch_grid[1]
    keep = ~torch.eye(n, dtype=torch.bool, device=enc.pixel_values.device)
    occluded = batched_target(handle, masked_images(enc, keep), index)
    full = batched_target(handle, enc.pixel_values, index)[0]
    return (full - occluded).double().cpu().numpy(), {"window": "one patch", "replacement": BASELINE}


def shap_patches(handle, enc, index, *, n_samples: int = 256, max_players: int = 64, seed: int = 0):
    shap = import_shap()  # optional and slow to import (one thread at a time: see import_shap)

    rows, cols = enc.patch_grid
    block = max(1, math.ceil(math.sqrt(rows * cols / max_players)))
    r, c = np.divmod(np.arange(rows * cols), cols)
    blocks_per_row = math.ceil(cols / block)
    player = (r // block) * blocks_per_row + (c // block)  # superpixel of each patch
    n_players = int(player.max()) + 1
    owner = torch.as_tensor(player, device=enc.pixel_values.device)

    def f(masks: np.ndarray) -> np.ndarray:
        on = torch.as_tensor(masks, device=enc.pixel_values.device) > 0.5
        return batched_target(handle, masked_images(enc, on[:, owner]), index).double().cpu().numpy()

    explainer = shap.KernelExplainer(f, np.zeros((1, n_players)), seed=seed)
    values = np.asarray(explainer.shap_values(np.ones((1, n_players)), nsamples=n_samples, silent=True)).reshape(-1)
    sizes = np.bincount(player, minlength=n_players)
    return values[player] / sizes[player], {
        "superpixel": f"{block}×{block} patches", "players": n_players, "n_samples": n_samples, "seed": seed,
        "absent": BASELINE, "spread": "a superpixel's value is split evenly over its patches"}


def chefer(handle, enc, index):
    if not handle.captures_natively:
        raise InputError("Chefer's rule needs attnviz's attention capture, which this model could not take.")
    x = enc.pixel_values.clone().requires_grad_(True)  # the weights are frozen: the input carries the graph
    with torch.enable_grad(), _capture.capture() as cap:
        value = _logits(handle, x)[0, index]
        weights = [w for _, _, w in cap.records]
        grads = torch.autograd.grad(value, weights)
    n = weights[0].shape[-1]
    relevance = torch.eye(n, dtype=torch.float64)
    for att, grad in zip(weights, grads):
        a_bar = (grad * att).clamp(min=0).mean(dim=1)[0].detach().double().cpu()
        relevance = relevance + a_bar @ relevance
    row = (relevance - torch.eye(n, dtype=torch.float64))[0].numpy()
    return row[n - enc.patch_grid[0] * enc.patch_grid[1]:], {"rule": "R ← R + mean_h[(∇A ⊙ A)⁺]·R",
                                                             "readout": "[CLS] row of R − I"}


def rollout(handle, enc, index):
    del index
    _, weights = handle.forward(enc.pixel_values)
    att = torch.stack([w[0] for w in weights]).float().cpu().numpy()
    row = attention_rollout(att)[0]
    return row[len(row) - enc.patch_grid[0] * enc.patch_grid[1]:], {"residual": "0.5·A + 0.5·I",
                                                                    "readout": "[CLS] row"}


_FUNCTIONS = {"integrated_gradients": integrated_gradients, "saliency": saliency, "occlusion": occlusion,
              "shap": shap_patches, "chefer": chefer, "rollout": rollout}
