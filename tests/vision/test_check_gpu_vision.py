"""bench/check_gpu.py's vision checks, dry-run on the CPU: equal models pass, a perturbed one fails."""

from __future__ import annotations

import copy

import numpy as np
import torch

import attnviz
from tests.test_check_gpu import _module
from tests.vision.tiny import save_tiny


def test_vision_rows_pass_on_equal_models_and_fail_on_a_perturbed_one(tmp_path):
    check = _module()
    handle = attnviz.load_model(save_tiny("vit", tmp_path))
    images = [np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)]
    methods = {"saliency": {}, "occlusion": {}}
    rows = check.vision_rows(handle, handle, "cpu", "float32", images=images, methods=methods)
    assert len(rows) == 6 and check.exit_code(rows) == 0, check.format_table(rows)

    perturbed = copy.copy(handle)
    perturbed.model = copy.deepcopy(handle.model)
    perturbed.vision = perturbed.model
    with torch.no_grad():
        weight = next(w for name, w in perturbed.model.named_parameters() if "query" in name or "q_proj" in name)
        weight.add_(0.5 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
    rows = check.vision_rows(handle, perturbed, "cpu", "float32", images=images, methods=methods)
    failed = {r.check for r in rows if not r.ok}
    assert "vision: attention max|Δ| (image 0)" in failed and "vision: saliency rel. max|Δ| (image 0)" in failed
    assert check.exit_code(rows) == 1


def test_the_random_vision_model_is_vit_tiny_shaped(tmp_path):
    check = _module()
    config = attnviz.load_model(check.build_vision_model(tmp_path)).config
    assert (config.image_size, config.patch_size, config.hidden_size, config.num_attention_heads) == (224, 16, 192, 3)
