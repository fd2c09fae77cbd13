"""Every text family transformers knows, as a tiny random model: attention equals the model's own eager
weights and integrated gradients and SHAP give finite scores, or the family is refused with a reason.

The families come from transformers' auto mappings (tests/models/sweep_configs.py); those that are not
plain text models or do not build as tiny models are skipped with their reason (read from the record in
tests/models/sweep_skips.json when it matches this transformers, else decided live). Runs single-threaded:
tiny models are fastest that way.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import attnviz
from attnviz.errors import InputError, ModelLoadError
from attnviz.models.families import EAGER_ONLY, REFUSED
from tests.helpers import small_tokenizer
from tests.models.sweep_configs import Skip, known_skips, text_model_types, tiny_model

TYPES = text_model_types()
TEXT = "The cat sat on the mat"
#: families that load but are not right yet, and why (issue 13): each is a known, listed gap.
KNOWN_GAPS: dict[str, str] = {
    # attribution or inputs
    "ctrl": "attribution: in-place op on a leaf that requires grad",
    "ibert": "attribution: quantised embeddings return tuples",
    "flaubert": "its masked-LM class returns no logits to target",
    "dpr": "encoder without hidden states or logits to target",
    "higgs_audio_v2": "no hidden states or logits to target",
    "clip_text_model": "attribution needs inputs_embeds, its forward insists on input_ids",
    "cpmant": "its forward needs its own position inputs",
    "xmod": "needs set_default_language() before a forward",
    "splinter": "attention differs from eager after reload (question-position head)",
    # the shrunken default config is inconsistent (sizes the sweep does not know about)
    "codegen": "tiny config: rotary_dim larger than the head",
    "gptj": "tiny config: rotary_dim larger than the head",
    "dory": "tiny config: head sizes",
    "esmc": "tiny config: needs explicit positions",
    "hrm_text": "tiny config: layer lists",
    "glm4v_text": "tiny config: mrope sections", "glm_image_text": "tiny config: mrope sections",
    "glm_ocr_text": "tiny config: mrope sections", "qwen2_vl_text": "tiny config: mrope sections",
    "qwen2_5_vl_text": "tiny config: mrope sections",
}
#: SHAP's model evaluations per family: a few tree levels, enough to run every batch shape
SHAP_EVALS = 16
SHAP_SECONDS: list[float] = []  # what SHAP adds to the sweep (printed by test_sweep_counts)
COUNTS: dict[str, list[str]] = {"tried": [], "equal": [], "eager_path": [], "refused": [], "skipped": [],
                                "known_gaps": [], "skips_recorded": []}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sweep_tokenizer():
    return small_tokenizer()


@pytest.mark.parametrize("model_type", TYPES)
def test_family(model_type, sweep_tokenizer, tmp_path):
    recorded = known_skips()
    if model_type in recorded:  # decided before for this transformers and sweep_configs.py (see there)
        COUNTS["skipped"].append(model_type)
        COUNTS["skips_recorded"].append(model_type)
        pytest.skip(f"{model_type}: {recorded[model_type]}")
    if recorded and model_type in KNOWN_GAPS and model_type not in REFUSED:  # the record says it builds
        COUNTS["tried"].append(model_type)
        COUNTS["known_gaps"].append(model_type)
        pytest.xfail(KNOWN_GAPS[model_type])
    try:
        model, arch = tiny_model(model_type)
    except Skip as why:
        COUNTS["skipped"].append(model_type)
        pytest.skip(f"{model_type}: {why}")
    model.save_pretrained(tmp_path)
    sweep_tokenizer.save_pretrained(tmp_path)
    COUNTS["tried"].append(model_type)
    if model_type in REFUSED:
        with pytest.raises(ModelLoadError, match="does not support"):
            attnviz.load_model(tmp_path)
        COUNTS["refused"].append(model_type)
        return
    if model_type in KNOWN_GAPS:
        COUNTS["known_gaps"].append(model_type)
        pytest.xfail(KNOWN_GAPS[model_type])
    handle = attnviz.load_model(tmp_path)
    if model_type in EAGER_ONLY:
        assert not handle.captures_natively
    text = TEXT + " [MASK]" if arch.endswith("ForMaskedLM") else TEXT
    enc = handle.encode(text)
    result = handle.attention(text)
    inputs = dict(enc.inputs)
    if handle.kind == "encoder-decoder":
        inputs["decoder_input_ids"] = enc.inputs["input_ids"]
    # The reference is the saved model loaded again, eager: weights a family does not save (or re-initialises
    # on load) then match what attnviz loaded. (Not the model as built: a config the sweep shrank after
    # construction saves and reloads as a different structure, e.g. MiniCPM3's rotary head size.)
    reference = type(model).from_pretrained(tmp_path, attn_implementation="eager").eval()
    with torch.no_grad():
        out = reference(**inputs, output_attentions=True)
    own = out.encoder_attentions if handle.kind == "encoder-decoder" else out.attentions
    own = torch.stack([t[0] for t in own]).numpy()
    assert result.attentions.shape == own.shape
    np.testing.assert_allclose(result.attentions, own, atol=1e-5)
    COUNTS["equal"].append(model_type)
    if not handle.captures_natively:
        COUNTS["eager_path"].append(model_type)
    if handle.kind == "encoder-decoder":
        with pytest.raises(InputError, match="encoder-decoder"):
            handle.attribute(text, "integrated_gradients", n_steps=4)
        return
    scores = handle.attribute(text, "integrated_gradients", n_steps=4).scores
    assert len(scores) == len(enc.tokens) and np.isfinite(scores).all()
    started = time.perf_counter()  # SHAP deletes tokens: right-padded batches of every length, per family
    scores = handle.attribute(text, "shap", max_evals=SHAP_EVALS).scores
    SHAP_SECONDS.append(time.perf_counter() - started)
    assert len(scores) == len(enc.tokens) and np.isfinite(scores).all()


def test_sweep_counts():
    """Runs after the sweep (same module): the counts, printed and kept in sight."""
    if not COUNTS["tried"]:
        pytest.skip("the sweep did not run in this session")
    summary = {k: len(v) for k, v in COUNTS.items()}
    if not COUNTS["skips_recorded"]:
        print("family sweep: tests/models/sweep_skips.json does not match this transformers/sweep_configs.py;"
              " every family was decided live (slower). Rewrite it: python -m tests.models.sweep_configs")
    print("family sweep:", summary, "eager path:", COUNTS["eager_path"], "refused:", COUNTS["refused"],
          f"SHAP: {len(SHAP_SECONDS)} families, {sum(SHAP_SECONDS):.1f} s")
    assert summary["equal"] >= 40
