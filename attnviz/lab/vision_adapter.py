"""The Lab's digits ViT on the image pages: an adapter that makes it a :class:`~attnviz.vision.handle.VisionHandle`.

``LabForImageClassification`` is attnviz's own tiny vision transformer (8×8 grey digits, no image
processor, its own attention code). :class:`LabVisionHandle` gives it the vision handle's interface, so
the Attention and Attribution pages' image views, ``attention(image)``, ``attribute(image, ...)`` and
``evaluate(...)`` work on it unchanged:

- **preprocessing** (its own, there is no processor): an 8×8 float array in [0, 1] is read as it is (the
  Lab's training pixels, sklearn's 0–16 scaled by 1/16); anything else (PNG/JPEG/WebP bytes, a path, a PIL
  image, another array) goes through :func:`~attnviz.vision.images.read_image`'s checks, becomes grey,
  is resized to 8×8 (box filter) and scaled to [0, 1]. A picture on a light background (border mean
  above 0.5) is inverted, since the digits are light ink on black.
- **tokens**: ``[CLS]`` then the patches ``r0c0 … r3c3`` row by row (the model's reading order);
  ``patch_grid`` = (4, 4) for 2-pixel patches.
- **attention**: the model's own weights (attnviz's capture, or the Lab code's ``output_attentions``).
- **"removing" a patch** (occlusion, IG's baseline, faithfulness) sets its pixels to 0: the blank
  background of the digits.

:func:`digit_gallery` is the picker's images: one test-split digit per class from scikit-learn's bundled
dataset (the one the Lab trains on), as small PNGs, so they travel as names like the photo gallery.
"""

from __future__ import annotations

import io
import uuid

import numpy as np
import torch
from PIL import Image

from attnviz.errors import InputError
from attnviz.models import capture as _capture
from attnviz.vision.handle import VisionHandle
from attnviz.vision.images import ImageEncoding, patch_tokens, read_image

from .model import LabForImageClassification
from .tasks import get_task

__all__ = ["LabVisionHandle", "digit_gallery", "digit_images", "vision_handle_from_trainer"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class LabVisionHandle(VisionHandle):
    """A Lab digits ViT behind the vision handle's interface (see the module docstring).

    Example:
        >>> handle = LabVisionHandle(trainer.frozen_copy(), name="lab:digits")
        >>> result = handle.attention(digit_images()["digit 3"])
        >>> result.tokens[:2], result.meta["patch_grid"]     # ('[CLS]', 'r0c0'), (4, 4)
    """

    kind = "vision"

    def __init__(self, model: LabForImageClassification, *, name: str):
        if not isinstance(model, LabForImageClassification):
            raise InputError("Only the Lab's digits model (LabForImageClassification) opens on the image pages.")
        self.model = model.eval()
        for param in model.parameters():
            param.requires_grad_(False)
        try:  # attnviz's capture (sdpa speed when no weights are asked for); the Lab code otherwise
            model.set_attn_implementation(_capture.IMPLEMENTATION)
        except Exception:  # noqa: BLE001 - additive scores and top-k masks exist in the Lab code only
            model.set_attn_implementation("eager")
        self.processor = None
        self.name = name
        self.device = torch.device("cpu")
        self.dtype = next(model.parameters()).dtype
        self.config = model.config
        self.vision, self.vision_config = model, model.config
        self.captures_natively = model.config._attn_implementation == _capture.IMPLEMENTATION
        self.eager_reason = None if self.captures_natively else \
            f"{model.config.score} scores with a {model.config.mask} mask are the Lab code's own"
        self.labels = {i: str(i) for i in range(int(model.config.num_classes))}
        self.is_classifier = True
        self._n_prefix = self._probe()
        self.max_length = self._n_prefix + int(model.config.num_patches)

    @property
    def image_size(self) -> int:
        return int(self.config.image_size)

    def gallery(self) -> dict[str, bytes]:
        """The picker's images for this model: {name: PNG bytes} (see :func:`digit_gallery`)."""
        return digit_gallery()

    def describe(self) -> dict:
        return {**super().describe(), "image_size": self.image_size, "preprocessing": "grey, 8×8, [0, 1]"}

    def encode(self, image, *_args, **_kwargs) -> ImageEncoding:
        """One digit (8×8 array in [0, 1], or any checked image) as the model reads it: [1, 1, 8, 8]."""
        values = self._values(image)
        size = self.image_size
        rows = cols = size // self.patch_size
        pixels = torch.as_tensor(values, dtype=self.dtype).reshape(1, 1, size, size)
        shown = np.repeat(np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
        return ImageEncoding(pixel_values=pixels, shown=shown, tokens=("[CLS]",) + patch_tokens(rows, cols),
                             kinds=("cls",) + ("patch",) * (rows * cols), patch_grid=(rows, cols),
                             patch_size=self.patch_size)

    def _values(self, image) -> np.ndarray:
        size = self.image_size
        if isinstance(image, torch.Tensor):
            image = image.detach().cpu().numpy()
        if isinstance(image, np.ndarray) and image.shape == (size, size) and image.dtype.kind == "f":
            values = image.astype(np.float64)
            if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
                raise InputError(f"A {size}×{size} digit array holds values in [0, 1] (the Lab's pixels / 16).")
            return values.astype(np.float32)
        if isinstance(image, str) and not (len(image) < 4096 and image.lower().endswith(_IMAGE_SUFFIXES)):
            raise InputError(f"{self.name} is an image model: give it a digit picture (a file, bytes, a PIL image "
                             f"or a {size}×{size} array), not text.")
        grey = read_image(image).convert("L")
        if grey.size != (size, size):
            grey = grey.resize((size, size), Image.Resampling.BOX)
        values = np.asarray(grey, dtype=np.float32) / 255.0
        border = np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]])
        return 1.0 - values if border.mean() > 0.5 else values

    def _probe_pixels(self) -> torch.Tensor:
        return torch.zeros(1, 1, self.image_size, self.image_size, dtype=self.dtype)

    def __repr__(self) -> str:
        return f"LabVisionHandle({self.name!r})"


def digit_images() -> dict[str, np.ndarray]:
    """One digit per class from the Lab's fixed test split: {"digit 0": [8, 8] float32 in [0, 1], …}."""
    images, labels, _, test_idx = get_task("digits").data()
    picked: dict[int, np.ndarray] = {}
    for i in test_idx.tolist():
        picked.setdefault(int(labels[i]), images[i].numpy())
        if len(picked) == 10:
            break
    return {f"digit {label}": picked[label] for label in sorted(picked)}


_GALLERY: dict[str, bytes] = {}


def digit_gallery() -> dict[str, bytes]:
    """:func:`digit_images` as 8×8 grey PNGs (built once): what the image pages' picker offers."""
    if not _GALLERY:
        for name, values in digit_images().items():
            buffer = io.BytesIO()
            Image.fromarray(np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)).save(buffer, "PNG")
            _GALLERY[name] = buffer.getvalue()
    return dict(_GALLERY)


def vision_handle_from_trainer(trainer) -> LabVisionHandle:
    """A frozen copy of a digits Trainer's model as a :class:`LabVisionHandle` (training may go on)."""
    if not trainer.config.is_image_model:
        raise InputError("Only the digits task trains an image model: a text Lab model opens as text.")
    return LabVisionHandle(trainer.frozen_copy(), name=f"lab-vit:{trainer.task.name}:{uuid.uuid4().hex[:6]}")
