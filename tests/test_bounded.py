"""Bounded-memory attention (attnviz.bounded) checked against the model's own eager weights at 1,024 tokens.

The model is a tiny Llama-style decoder (grouped key/value heads, rotary positions) built from a config;
the reference is the same weights loaded independently with attn_implementation="eager".
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import transformers

import attnviz
from attnviz.attention import AttentionResult, attention_rollout, head_statistics, readout_scores
from attnviz.bounded import LongAttentionResult
from attnviz.errors import InputError, ResourceError
from tests.helpers import ROOT, random_sentence

N = 1024


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory, tokenizer):
    config = transformers.LlamaConfig(vocab_size=30522, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=N)
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("llama")
    transformers.LlamaForCausalLM(config).eval().save_pretrained(path, safe_serialization=True)
    tokenizer.model_max_length = N  # the bundled tokenizer says 512; this model reads N
    try:
        tokenizer.save_pretrained(path)
    finally:
        tokenizer.model_max_length = 512
    return path


@pytest.fixture(scope="module")
def long_case(llama_dir):
    """(handle, bounded result, eager weights [layers, heads, n, n]) for a text longer than the model reads."""
    handle = attnviz.load_model(llama_dir)
    text = random_sentence(np.random.default_rng(7), N + 200)
    result = handle.attention(text, bounded=True)
    eager = transformers.LlamaForCausalLM.from_pretrained(str(llama_dir), attn_implementation="eager").eval()
    with torch.no_grad():
        out = eager(**handle.encode(text).inputs, output_attentions=True)
    return handle, result, torch.stack([a[0] for a in out.attentions]).numpy()


def test_fetched_heads_equal_eager_at_1024_tokens(long_case, rng):
    _, result, eager = long_case
    assert isinstance(result, LongAttentionResult) and len(result.tokens) == N
    assert result.truncated and result.n_input_tokens > N  # the model's own limit, stated
    for layer, head in zip(rng.integers(0, 3, 4), rng.integers(0, 4, 4)):
        np.testing.assert_allclose(result.head(int(layer), int(head)), eager[layer, head], atol=1e-5)
    rows, cols = slice(300, 420), slice(10, 380)
    np.testing.assert_allclose(result.window(2, 1, rows, cols), eager[2, 1, rows, cols], atol=1e-5)


def test_summaries_equal_the_full_formulas(long_case):
    handle, result, eager = long_case
    block = result.block
    nb = -(-N // block)
    padded = np.zeros((*eager.shape[:2], nb * block, nb * block), np.float32)
    padded[..., :N, :N] = eager
    tiles = padded.reshape(*eager.shape[:2], nb, block, nb, block)
    np.testing.assert_allclose(result.pooled_max, tiles.max(axis=(3, 5)), atol=1e-3, rtol=1e-3)  # float16
    np.testing.assert_allclose(result.pooled_mean, tiles.sum(axis=(3, 5)) / block**2, atol=1e-3, rtol=1e-3)

    expected = head_statistics(eager, result.kinds)
    got = result.head_statistics()
    for column in expected.columns[2:-1]:
        np.testing.assert_allclose(got[column], expected[column], atol=1e-4, err_msg=column)

    rollout = readout_scores(attention_rollout(eager), handle.readout)
    np.testing.assert_allclose(result.rollout_readout(), rollout, atol=1e-3)  # head means spooled as float16

    mean = eager[1].mean(axis=0)
    keys, weights = result.head_top_keys(1)
    np.testing.assert_allclose(weights, np.sort(mean, axis=-1)[:, ::-1][:, :keys.shape[1]], atol=1e-3)
    np.testing.assert_allclose(np.take_along_axis(mean, keys, axis=-1), weights, atol=1e-3)
    keys, weights = result.head_top_keys(0, head=3, k=5)
    np.testing.assert_allclose(np.take_along_axis(eager[0, 3], keys, axis=-1), weights, atol=1e-6)
    np.testing.assert_allclose(weights, np.sort(eager[0, 3], axis=-1)[:, ::-1][:, :5], atol=1e-6)


def test_short_inputs_keep_the_full_result_and_files_keep_the_summaries(long_case):
    handle, result, _ = long_case
    assert isinstance(handle.attention("A short sentence."), AttentionResult)
    again = LongAttentionResult.from_json(result.to_json())
    np.testing.assert_array_equal(again.pooled_max, result.pooled_max)
    np.testing.assert_array_equal(again.top_keys, result.top_keys)
    assert result.can_fetch and not again.can_fetch
    with pytest.raises(InputError, match="summaries only"):
        again.head(0, 0)
    with pytest.raises(InputError, match="not extracted"):
        result.head(5, 0)


def test_refused_only_when_even_the_bounded_path_cannot_fit(long_case, monkeypatch):
    import attnviz.bounded as bounded

    handle = long_case[0]
    need = bounded.estimate_bytes(handle, N, 3)
    assert 0 < need < 2**30  # a few MB of queries and keys, a few blocks of rows: far below 3 × 4 × N² floats
    monkeypatch.setattr(bounded, "available_bytes", lambda: need // 2)
    with pytest.raises(ResourceError, match="shorter text"):
        handle.attention("word " * N, bounded=True)
    monkeypatch.setattr(bounded, "available_bytes", lambda: need * 2)
    assert handle.attention("word " * 50, bounded=True).num_layers == 3


def test_progress_is_reported_per_layer(long_case):
    handle = long_case[0]
    seen = []
    handle.attention("word " * 300, bounded=True, progress=lambda fraction, what: seen.append(fraction))
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])


PEAK_SCRIPT = textwrap.dedent("""
    import json, resource, sys, warnings
    warnings.simplefilter("ignore")
    import torch, transformers
    from attnviz.models.handle import from_pretrained_model
    from attnviz.models.loading import default_model_path
    n = 8192
    tok = transformers.AutoTokenizer.from_pretrained(str(default_model_path()), model_max_length=n)
    config = transformers.LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=n)
    handle = from_pretrained_model(transformers.LlamaForCausalLM(config).eval(), tok, name="tiny-llama")
    handle.attention("warm up", bounded=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = handle.attention("word " * (n + 10), bounded=True)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"n": len(result.tokens), "bounded": bool(result.meta.get("bounded")), "peak": after - before}))
""")


def test_peak_memory_at_8192_tokens_stays_far_below_the_full_weights():
    """1 layer × 2 heads × 8,192² float32 weights are 512 MiB; the bounded path must stay under a quarter."""
    proc = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                                            "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    full = 1 * 2 * 8192 * 8192 * 4
    assert report["n"] == 8192 and report["bounded"]
    assert report["peak"] < full / 4, report


def test_entropy_from_logits_matches_the_direct_formula():
    """The bounded path's entropy uses the logits (no log pass): within 4e-5 nats of −Σ s·log s everywhere."""
    from attnviz.bounded import _smoothed_entropy

    n = 2048
    a, b = 0.9999, 0.0001 / n
    rng = np.random.default_rng(3)
    rows = [rng.normal(size=n) * scale for scale in (0.1, 1.0, 10.0, 100.0)]
    for f in (0.1, 1.0, 3.0):  # every key but one right at b/a, the case the approximation is worst at
        p = np.full(n, b / a * f)
        p[0] = 1 - p[1:].sum()
        rows.append(np.log(p))
    one_hot = np.full(n, -np.inf)
    one_hot[5] = 0.0
    rows.append(one_hot)
    scores = torch.tensor(np.stack(rows), dtype=torch.float32)[None]          # [1 head, rows, n]
    w = torch.softmax(scores, dim=-1)
    s = w.double() * a + b
    direct = -(s * s.log()).sum(-1)
    got = _smoothed_entropy(w, scores.clone(), w.amax(-1), a, b)
    np.testing.assert_allclose(got.numpy(), direct.numpy(), atol=4e-5)
    assert (got - direct).abs().max() > 0  # an approximation, not the same computation


def test_fast_and_general_row_paths_give_the_same_summaries(long_case, monkeypatch):
    """Plain causal layers take the fused row path; masks, biases, softcaps and sinks take KeptAttention.rows."""
    import attnviz.bounded as bounded

    handle = long_case[0]
    text = random_sentence(np.random.default_rng(11), 400)
    fast = handle.attention(text, bounded=True)
    monkeypatch.setattr(bounded._RowWeights, "applies", staticmethod(lambda kept: False))
    general = handle.attention(text, bounded=True)
    for name in ("pooled_max", "pooled_mean", "top_weights", "rollout_scores"):
        np.testing.assert_allclose(getattr(fast, name), getattr(general, name), atol=1e-3, err_msg=name)
    np.testing.assert_allclose(fast.stats, general.stats, atol=1e-4)
    assert (fast.top_keys == general.top_keys).mean() > 0.99  # ties may break either way


def test_pooled_window_equals_block_average_of_the_window(long_case):
    """The heatmap's cells, pooled chunk by chunk, are block_average of the full window (max and mean)."""
    from attnviz.figures.attention import block_average

    _, result, eager = long_case
    for rows, cols, side in ((slice(None), slice(None), 100), (slice(37, 900), slice(5, 700), 64),
                             (slice(10, 60), slice(None), 512)):
        for how in ("max", "mean"):
            got = result.pooled_window(2, 3, rows, cols, side=side, how=how)
            np.testing.assert_allclose(got, block_average(eager[2, 3][rows, cols], side, how), atol=1e-6,
                                       err_msg=f"{rows} {cols} {how}")
