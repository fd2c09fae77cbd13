"""Reading images safely and turning them into what a vision transformer reads.

Every image goes through :func:`read_image`, whatever it comes as (bytes, a path, a PIL image, an
array): PNG, JPEG and WebP only, at most :data:`MAX_IMAGE_BYTES` of file and :data:`MAX_IMAGE_PIXELS`
pixels (checked from the header, before anything is decoded: a decompression bomb is refused without
being expanded), EXIF orientation applied, metadata dropped, RGB out. Anything else is an
:class:`~attnviz.errors.InputError` saying what was wrong.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: at most 40 megapixels (Pillow's own bomb limit is ~89 MP; 40 MP RGB is 120 MB decoded)
MAX_IMAGE_PIXELS = 40_000_000
FORMATS = ("PNG", "JPEG", "WEBP")
#: bundled pictures with their licences (assets/images/README.md); the only images a link can name
GALLERY_DIR = Path(__file__).resolve().parents[2] / "assets" / "images"
#: text in an image's metadata that has no business there: refused rather than silently carried along
_HOSTILE_MARKERS = ("<script", "javascript:", "<svg", "<iframe", "<html", "<?php", "onerror=", "onload=")


def read_image(source) -> Image.Image:
    """An RGB PIL image from bytes, a file path, a PIL image or an array ([h, w] or [h, w, 3|4]).

    Raises:
        InputError: not PNG/JPEG/WebP, too big, a decompression bomb, broken, or script-like metadata.
    """
    if isinstance(source, Image.Image):
        _check_pixels(source.size)
        return _to_rgb(ImageOps.exif_transpose(source))
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputError(f"No image file at '{str(source)[:200]}'.") from exc
        _check_bytes(size)
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_bytes(len(data))
    else:
        raise InputError(f"An image must be a file path, bytes, a PIL image or an array, not {type(source).__name__}.")
    return _decode(data)


def _check_bytes(size: int) -> None:
    if size > MAX_IMAGE_BYTES:
        raise InputError(f"The image file has {size / 2**20:.1f} MB; at most {MAX_IMAGE_BYTES // 2**20} MB are read.")
    if size == 0:
        raise InputError("The image file is empty.")


def _check_pixels(size: tuple[int, int]) -> None:
    w, h = size
    if w * h > MAX_IMAGE_PIXELS:
        raise InputError(f"The image has {w}×{h} pixels ({w * h / 1e6:.0f} megapixels); at most "
                         f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels are read (a larger one could be a "
                         "decompression bomb).")
    if w < 1 or h < 1:
        raise InputError("The image has no pixels.")


def _decode(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))  # reads the header only
            _check_pixels(image.size)
            _check_metadata(image)
            image.seek(0)  # animated WebP/PNG: the first frame
            image.load()
    except InputError:
        raise
    except UnidentifiedImageError as exc:
        raise InputError("That file is not a PNG, JPEG or WebP image.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"The image declares more than {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (a decompression "
                         "bomb?): it was not decoded.") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"The image could not be decoded ({type(exc).__name__}): the file is broken.") from exc
    return _to_rgb(ImageOps.exif_transpose(image))


def _check_metadata(image: Image.Image) -> None:
    texts = [v for v in image.info.values() if isinstance(v, (str, bytes))]
    texts += [str(v) for v in getattr(image, "text", {}).values()] if image.format == "PNG" else []
    try:
        texts += [v for v in image.getexif().values() if isinstance(v, (str, bytes))]
    except Exception:  # noqa: BLE001 - unreadable EXIF is ignored (it is dropped anyway)
        pass
    for text in texts:
        lowered = (text.decode("latin-1") if isinstance(text, bytes) else text).lower()
        if any(marker in lowered for marker in _HOSTILE_MARKERS):
            raise InputError("The image carries script or markup in its metadata: it was refused. Save the "
                             "picture again without metadata (e.g. export it as a new PNG) to use it.")


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InputError(f"An image array must be [height, width] or [height, width, 1|3|4], not {list(array.shape)}.")
    _check_pixels((array.shape[1], array.shape[0]))
    if array.dtype != np.uint8:
        values = np.asarray(array, dtype=np.float64)
        if not np.isfinite(values).all():
            raise InputError("The image array holds NaN or infinite values.")
        scale = 255.0 if values.max(initial=0) <= 1.0 else 1.0
        array = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return _to_rgb(Image.fromarray(array))


# ------------------------------------------------------------------ what the model reads
@dataclass(frozen=True)
class ImageEncoding:
    """One image as the model reads it.

    ``pixel_values`` [1, 3, H, W] (normalised, on the model's device); ``shown`` [H, W, 3] uint8: the same
    pixels un-normalised, i.e. the image after the processor's resizing and cropping, on which patch maps
    are drawn; ``tokens``/``kinds``: [CLS], distillation/register tokens, then patches row by row.
    """

    pixel_values: torch.Tensor
    shown: np.ndarray
    tokens: tuple[str, ...]
    kinds: tuple[str, ...]
    patch_grid: tuple[int, int]
    patch_size: int

    @property
    def n_prefix(self) -> int:
        """Tokens before the first patch ([CLS], [DIST], registers)."""
        return len(self.tokens) - self.patch_grid[0] * self.patch_grid[1]


def processor_pixels(processor, image: Image.Image) -> tuple[torch.Tensor, np.ndarray]:
    """(pixel_values [1, 3, H, W], the same pixels as uint8 [H, W, 3]) through the model's image processor."""
    try:
        pixels = processor(images=image, return_tensors="pt")["pixel_values"].float()
    except (ValueError, TypeError, OSError) as exc:
        raise InputError(f"The model's image processor refused the image ({type(exc).__name__}: "
                         f"{str(exc)[:200]}).") from exc
    values = pixels[0].permute(1, 2, 0).numpy().astype(np.float64)
    if getattr(processor, "do_normalize", False):
        values = values * np.asarray(processor.image_std) + np.asarray(processor.image_mean)
    if getattr(processor, "do_rescale", False):
        values = values / float(processor.rescale_factor)
    return pixels, np.clip(np.rint(values), 0, 255).astype(np.uint8)


def prefix_tokens(model_type: str, n_prefix: int, n_registers: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names and kinds of the tokens before the patches: [CLS], DeiT's [DIST], then [REG1] … registers."""
    names = ["[CLS]"] + (["[DIST]"] if model_type == "deit" and n_prefix - n_registers == 2 else [])
    names += [f"[REG{i + 1}]" for i in range(n_registers)]
    if len(names) != n_prefix:
        raise InputError(f"This {model_type} model reads {n_prefix} tokens before its patches; attnviz can name "
                         f"{len(names)} ([CLS], distillation, registers): its token layout is not supported.")
    return tuple(names), ("cls",) + ("special",) * (n_prefix - 1)


def patch_tokens(rows: int, cols: int) -> tuple[str, ...]:
    """Patch names by row and column, row-major (the order vision transformers flatten them in): r0c0, r0c1 …"""
    return tuple(f"r{r}c{c}" for r in range(rows) for c in range(cols))


def gallery() -> dict[str, Path]:
    """{file name: path} of the bundled gallery images, sorted by name."""
    return {p.name: p for p in sorted(GALLERY_DIR.glob("*")) if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")}
