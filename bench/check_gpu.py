"""GPU path check: device placement, half precision, and GPU results against the CPU's.

    HF_HUB_OFFLINE=1 python bench/check_gpu.py                  # the bundled MiniLM on CUDA (or MPS)
    HF_HUB_OFFLINE=1 python bench/check_gpu.py --model DIR      # any local model / cached hub id
    HF_HUB_OFFLINE=1 python bench/check_gpu.py --device cpu     # the same checks CPU vs CPU (a dry run)

On a machine without CUDA or MPS it prints that it skipped and exits 0. Otherwise it loads the model
on the CPU (float32, the reference) and on the GPU in float32, float16 and bfloat16 (where the device
supports it), runs attention and three attributions (Integrated Gradients, saliency, SHAP) on the same
texts, and prints a PASS/FAIL table. Exit status 1 if any check fails.

What is compared, and the tolerances (stated once, here):

    placement   every parameter and the ids on the GPU; results come back as CPU numpy arrays
    attention   max |GPU − CPU| over all layers × heads × query × key weights (weights lie in [0, 1]):
                float32 ≤ 1e-4, float16 ≤ 1e-2, bfloat16 ≤ 3e-2
    IG, saliency, SHAP scores: max |GPU − CPU| / max |CPU| (relative to the largest score):
                float32 ≤ 1e-3 (SHAP: 1e-3; same masks, same seed), float16 ≤ 0.1, bfloat16 ≤ 0.2,
                and, for half precision, the same top-ranked token as the CPU
    f(x)        |GPU − CPU| of the explained output: float32 ≤ 1e-4, float16 ≤ 1e-2, bfloat16 ≤ 3e-2
    vision      an image classifier (--vision DIR, default: a random ViT-Tiny-sized classifier built from a
                config into a temporary directory, 224 px, 16-px patches, 196 patches): parameters and pixels
                on the device, attention of two images (the attention tolerances above), IG, saliency and
                occlusion patch scores and the class logit (the score and f(x) tolerances above)
    GQA         a random grouped-query Llama (8 query heads over 2 key/value heads, the bundled tokenizer)
                saved to a temporary directory: the same placement and comparisons, its key/value groups
                named, and, where accelerate is installed, the model spread with device_map="auto"
    long        the bounded-memory path (attnviz.bounded) on bench_long's random Llama-style model: at
                2,048 tokens one fetched head and the pooled tiles against the CPU's (the attention
                tolerances above); at --long tokens (default 8,192) the time to the summaries and the peak
                GPU memory (≤ 3 GB), GPU only
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

SKIP_MESSAGE = "check_gpu: SKIPPED: no CUDA or MPS device on this machine (CPU only), nothing to check."
TEXTS = ["The animal didn't cross the street because it was too tired.",
         "A wonderful, warm film with a painfully slow middle part."]
ATTENTION_TOL = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 3e-2}
SCORE_TOL = {"float32": 1e-3, "float16": 0.1, "bfloat16": 0.2}
OUTPUT_TOL = ATTENTION_TOL
METHODS = {"integrated_gradients": {"n_steps": 32}, "saliency": {}, "shap": {"max_evals": 200}}
VISION_METHODS = {"integrated_gradients": {"n_steps": 16}, "saliency": {}, "occlusion": {}}


@dataclass(frozen=True)
class Row:
    check: str
    dtype: str
    value: float | str
    tolerance: str
    ok: bool


def gpu_device() -> str | None:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return None


def half_dtypes(device: str) -> list[str]:
    if device == "cuda":
        return ["float16"] + (["bfloat16"] if torch.cuda.is_bf16_supported() else [])
    if device == "mps":
        return ["float16"]
    return []


def placement_rows(handle, device: str, dtype: str) -> list[Row]:
    rows = []
    devices = {p.device.type for p in handle.model.parameters()}
    rows.append(Row("parameters on device", dtype, ",".join(sorted(devices)), device, devices == {device}))
    dtypes = {str(p.dtype).replace("torch.", "") for p in handle.model.parameters() if p.is_floating_point()}
    rows.append(Row("parameter dtype", dtype, ",".join(sorted(dtypes)), dtype, dtypes == {dtype}))
    ids = handle.encode(TEXTS[0]).inputs["input_ids"]
    rows.append(Row("inputs on device", dtype, ids.device.type, device, ids.device.type == device))
    result = handle.attention(TEXTS[0])
    ok = isinstance(result.attentions, np.ndarray) and result.attentions.dtype == np.float32
    rows.append(Row("attention result is CPU numpy float32", dtype, type(result.attentions).__name__, "ndarray", ok))
    rows.append(Row("result records its device", dtype, result.meta.get("device", "?"), device,
                    str(result.meta.get("device", "")).startswith(device)))
    return rows


def attention_row(check: str, expected, got, dtype: str) -> Row:
    """max |Δ| over every attention weight of two results, within ATTENTION_TOL."""
    diff = float(np.max(np.abs(expected.attentions - got.attentions)))
    tol = ATTENTION_TOL[dtype]
    return Row(check, dtype, diff, f"≤ {tol:g}", diff <= tol)


def score_row(check: str, expected: np.ndarray, got: np.ndarray, dtype: str, unit: str) -> Row:
    """max |got − expected| / max |expected| within SCORE_TOL; in half precision the same top ``unit`` too."""
    scale = float(np.max(np.abs(expected))) or 1.0
    rel = float(np.max(np.abs(expected - got))) / scale
    tol = SCORE_TOL[dtype]
    ok = rel <= tol and bool(np.all(np.isfinite(got)))
    if dtype != "float32":
        ok = ok and int(np.argmax(np.abs(expected))) == int(np.argmax(np.abs(got)))
    return Row(check, dtype, rel, f"≤ {tol:g}" + (f", same top {unit}" if dtype != "float32" else ""), ok)


def compare_rows(reference, candidate, dtype: str, texts=TEXTS, methods=METHODS) -> list[Row]:
    """Attention and attributions of ``candidate`` against ``reference`` (the CPU float32 model)."""
    rows = []
    for i, text in enumerate(texts):
        ref, got = reference.attention(text), candidate.attention(text)
        if ref.tokens != got.tokens:
            rows.append(Row(f"attention tokens (text {i})", dtype, "differ", "equal", False))
            continue
        rows.append(attention_row(f"attention max|Δ| (text {i})", ref, got, dtype))
        for method, settings in methods.items():
            a = reference.attribute(text, method, **settings)
            b = candidate.attribute(text, method, **settings)
            rows.append(score_row(f"{method} rel. max|Δ| (text {i})", a.scores, b.scores, dtype, "token"))
            out = abs(float(a.output) - float(b.output))
            rows.append(Row(f"{method} f(x) |Δ| (text {i})", dtype, out, f"≤ {OUTPUT_TOL[dtype]:g}",
                            out <= OUTPUT_TOL[dtype]))
    return rows


def format_table(rows: list[Row]) -> str:
    lines = [f"{'check':<52} {'dtype':<9} {'value':>12}  {'tolerance':<26} result", "-" * 110]
    for r in rows:
        value = f"{r.value:.3e}" if isinstance(r.value, float) else str(r.value)
        lines.append(f"{r.check:<52} {r.dtype:<9} {value:>12}  {r.tolerance:<26} {'PASS' if r.ok else 'FAIL'}")
    failed = sum(not r.ok for r in rows)
    lines.append("-" * 110)
    lines.append(f"{len(rows) - failed} passed, {failed} failed")
    return "\n".join(lines)


def exit_code(rows: list[Row]) -> int:
    return 0 if rows and all(r.ok for r in rows) else 1


def gqa_model_dir(folder: Path) -> Path:
    """A random Llama with grouped-query attention (8 query heads, 2 key/value heads), saved with a tokenizer."""
    import transformers

    from attnviz.models.loading import default_model_path

    config = transformers.LlamaConfig(vocab_size=30522, hidden_size=128, intermediate_size=344, num_hidden_layers=4,
                                      num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=512)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).eval().save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(str(default_model_path())).save_pretrained(folder)
    return folder


def gqa_rows(device: str, dtype: str, folder: Path, texts=TEXTS, methods=METHODS) -> list[Row]:
    """The GQA model on ``device`` in ``dtype`` (and spread by device_map="auto" where accelerate is installed)
    against itself on the CPU in float32."""
    from dataclasses import replace

    import attnviz

    reference = attnviz.load_model(folder, device="cpu")
    kind = torch.device(device).type
    rows = []
    candidates = [("", lambda: attnviz.load_model(folder, device=device, dtype=dtype))]
    if importlib.util.find_spec("accelerate") is not None:
        candidates.append((" (device_map=auto)" if kind != "cpu" else " (device_map=cpu)",
                           lambda: attnviz.load_model(folder, device=device, dtype=dtype,
                                                      device_map="auto" if kind != "cpu" else "cpu")))
    for label, load in candidates:
        try:
            candidate = load()
        except attnviz.AttnvizError as exc:
            rows.append(Row(f"GQA load{label}", dtype, type(exc).__name__, "loads", False))
            continue
        groups = candidate.kv_groups
        meta = candidate.attention(texts[0]).meta.get("kv_groups")
        ok = groups == ((0, 1, 2, 3), (4, 5, 6, 7)) and meta == [list(g) for g in groups]
        rows.append(Row(f"GQA key/value groups{label}", dtype, str(len(groups or ())), "2 groups of 4", ok))
        found = placement_rows(candidate, kind, dtype) + compare_rows(reference, candidate, dtype, texts, methods)
        rows += [replace(r, check=f"GQA {r.check}{label}") for r in found]
        del candidate
    return rows


def long_context_rows(device: str, dtype: str, n_long: int, n_compare: int = 2048) -> list[Row]:
    """The bounded path on ``device`` in ``dtype``: a fetched head and the tiles vs the CPU's; time and peak."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_long import build_handle, text_of

    rows, tol, n_compare = [], ATTENTION_TOL[dtype], min(n_compare, n_long)
    cpu = build_handle(n_compare).attention(text_of(n_compare), bounded=True)
    handle = build_handle(max(n_long, n_compare), device=device, dtype=getattr(torch, dtype))
    gpu = handle.attention(text_of(n_compare), bounded=True)
    layer, head = cpu.layers[-1], 5
    diff = float(np.abs(gpu.head(layer, head) - cpu.head(layer, head)).max())
    rows.append(Row(f"long {n_compare}: head", dtype, diff, f"≤ {tol:g}", diff <= tol))
    diff = float(np.abs(gpu.pooled_max.astype(np.float32) - cpu.pooled_max.astype(np.float32)).max())
    rows.append(Row(f"long {n_compare}: tiles", dtype, diff, f"≤ {tol:g}", diff <= tol))
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        handle.attention(text_of(n_long), bounded=True)
        torch.cuda.synchronize()
        took = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated() / 1e9
        rows.append(Row(f"long {n_long}: seconds", dtype, took, "≤ 60", took <= 60))
        rows.append(Row(f"long {n_long}: peak GB", dtype, peak, "≤ 3", peak <= 3))
    return rows


def build_vision_model(root: Path) -> Path:
    """A random ViT classifier of ViT-Tiny's shape (224 px, 16-px patches, 192 wide, 3 heads; 4 layers), saved
    with its image processor under ``root`` (no download)."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    labels = {i: f"class {i}" for i in range(10)}
    model = ViTForImageClassification(ViTConfig(
        image_size=224, patch_size=16, hidden_size=192, num_hidden_layers=4, num_attention_heads=3,
        intermediate_size=768, id2label=labels, label2id={v: k for k, v in labels.items()}))
    path = root / "vit-tiny-random"
    model.save_pretrained(path)
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(path)
    return path


def vision_images() -> list[np.ndarray]:
    """A smooth gradient and random noise, not square (the processor resizes them)."""
    yy, xx = np.mgrid[0:180, 0:240]
    smooth = np.stack([xx * 255 / 239, yy * 255 / 179, (xx + yy) * 255 / 418], -1).astype(np.uint8)
    return [smooth, np.random.default_rng(0).integers(0, 256, (180, 240, 3), dtype=np.uint8)]


def vision_rows(reference, candidate, device: str, dtype: str, images=None,
                methods=VISION_METHODS) -> list[Row]:
    """An image model on ``device`` in ``dtype`` (``candidate``) against the CPU float32 one (``reference``)."""
    images = vision_images() if images is None else images
    rows = []
    devices = {p.device.type for p in candidate.model.parameters()}
    rows.append(Row("vision: parameters on device", dtype, ",".join(sorted(devices)), device, devices == {device}))
    pixels = candidate.encode(images[0]).pixel_values
    rows.append(Row("vision: pixels on device", dtype, pixels.device.type, device, pixels.device.type == device))
    for i, image in enumerate(images):
        ref, got = reference.attention(image), candidate.attention(image)
        if ref.tokens != got.tokens or got.patch_grid != ref.patch_grid:
            rows.append(Row(f"vision: tokens (image {i})", dtype, "differ", "equal", False))
            continue
        rows.append(attention_row(f"vision: attention max|Δ| (image {i})", ref, got, dtype))
        for method, settings in methods.items():
            a = reference.attribute(image, method, target=0, **settings)
            b = candidate.attribute(image, method, target=0, **settings)
            rows.append(score_row(f"vision: {method} rel. max|Δ| (image {i})", a.scores, b.scores, dtype, "patch"))
        out = abs(a.value - b.value)
        rows.append(Row(f"vision: logit |Δ| (image {i})", dtype, out, f"≤ {OUTPUT_TOL[dtype]:g}",
                        out <= OUTPUT_TOL[dtype]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="hub id or directory (default: the bundled MiniLM)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, mps or cpu (default: the GPU if any)")
    parser.add_argument("--long", type=int, default=8192, help="tokens of the long-context run (0: skip it)")
    parser.add_argument("--vision", default="random", help="image classifier directory or hub id for the vision "
                        "checks; 'random' (default): a random ViT-Tiny-sized one; 'none': skip them")
    parser.add_argument("--no-gqa", action="store_true", help="skip the grouped-query attention model")
    args = parser.parse_args(argv)

    device = args.device or gpu_device()
    if device is None:
        print(SKIP_MESSAGE)
        print(f"(torch {torch.__version__}; torch.cuda.is_available() = False)")
        return 0
    import attnviz

    kind = torch.device(device).type
    started = time.perf_counter()
    reference = attnviz.load_model(args.model, device="cpu")
    name = torch.cuda.get_device_name() if kind == "cuda" else kind
    print(f"check_gpu: {reference.name} on {device} ({name}) vs cpu float32; torch {torch.__version__}")
    rows: list[Row] = []
    scratch = tempfile.TemporaryDirectory(prefix="check_gpu_vision_")
    vision = None if args.vision == "none" else (
        str(build_vision_model(Path(scratch.name))) if args.vision == "random" else args.vision)
    vision_reference = attnviz.load_model(vision, device="cpu") if vision else None
    for dtype in ["float32"] + half_dtypes(kind):
        try:
            candidate = attnviz.load_model(args.model, device=device, dtype=dtype)
        except attnviz.AttnvizError as exc:
            rows.append(Row("load", dtype, type(exc).__name__, "loads", False))
            print(f"  {dtype}: {exc}")
            continue
        rows += placement_rows(candidate, kind, dtype)
        rows += compare_rows(reference, candidate, dtype)
        if args.long:
            rows += long_context_rows(device, dtype, args.long)
        if vision:
            try:
                image_model = attnviz.load_model(vision, device=device, dtype=dtype)
            except attnviz.AttnvizError as exc:
                rows.append(Row("vision: load", dtype, type(exc).__name__, "loads", False))
                print(f"  vision {dtype}: {exc}")
            else:
                rows += vision_rows(vision_reference, image_model, kind, dtype)
                del image_model
        if not args.no_gqa:
            with tempfile.TemporaryDirectory() as folder:
                rows += gqa_rows(device, dtype, gqa_model_dir(Path(folder)))
        del candidate
        if kind == "cuda":
            torch.cuda.empty_cache()
    print(format_table(rows))
    scratch.cleanup()
    print(f"({time.perf_counter() - started:.1f} s)")
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())
