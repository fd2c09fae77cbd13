"""Families whose attention does not (or not simply) go through transformers' attention interface.

Each one is a tiny random model saved with a small tokenizer and loaded by `attnviz.load_model(dir)`;
its attention must equal the model's own eager `output_attentions` on the same tokens.
"""

import numpy as np
import pytest
import torch
import transformers

import attnviz
from tests.helpers import eager_attentions, random_sentence, small_tokenizer

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, vocab_size=200)
FAMILIES = {  # family: (architecture, config overrides, captures natively)
    "mpnet": ("MPNetForMaskedLM", TINY, False),  # own attention module, relative position bias
    "deberta-v2": ("DebertaV2ForMaskedLM", TINY, False),  # disentangled relative attention
    "albert": ("AlbertForMaskedLM", dict(TINY, embedding_size=16), True),  # one module shared by every layer
    "falcon": ("FalconForCausalLM", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         vocab_size=200), False),  # own class table: KeyError 'attnviz'
    "bloom": ("BloomForCausalLM", dict(hidden_size=32, n_layer=2, n_head=4, vocab_size=200), False),  # ALiBi
}


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory):
    tok = small_tokenizer()
    dirs = {}
    torch.manual_seed(0)
    for family, (arch, overrides, _) in FAMILIES.items():
        config = transformers.CONFIG_MAPPING[family](**overrides)
        model = getattr(transformers, arch)(config).eval()
        path = tmp_path_factory.mktemp(family)
        model.save_pretrained(path)
        tok.save_pretrained(path)
        dirs[family] = path
    return dirs


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_attention_equals_its_own_eager_weights(family_dirs, family, rng):
    arch, _, native = FAMILIES[family]
    handle = attnviz.load_model(family_dirs[family])
    assert handle.captures_natively == native
    if not native:
        assert handle.eager_reason and "eager output_attentions" in handle.describe()["attention_capture"]
    text = random_sentence(rng, 9)
    result = handle.attention(text)
    ref = eager_attentions(family_dirs[family], handle.encode(text).inputs, arch)
    assert result.attentions.shape == (2, 4, len(result.tokens), len(result.tokens))
    np.testing.assert_allclose(result.attentions, ref, atol=1e-5)
    np.testing.assert_allclose(result.attentions.sum(-1), 1.0, atol=1e-5)


def test_a_shared_module_names_one_layer_per_call(family_dirs, rng):
    """ALBERT runs one attention module for every layer: each call is its own layer, also for gradients."""
    handle = attnviz.load_model(family_dirs["albert"])
    sites = handle.attention_sites()
    assert len({mid for mid, _ in sites}) == 1
    assert sorted(s.layer for s in sites.values()) == [0, 1]
    text = random_sentence(rng, 6) + " [MASK]"  # a masked LM explains the masked word
    only_last = handle.attention(text, layers=[-1])
    np.testing.assert_allclose(only_last.attentions[0], handle.attention(text).attentions[1], atol=1e-6)
    scores = handle.attribute(text, "grad_attention").scores
    assert np.isfinite(scores).all() and len(scores) == len(handle.encode(text).tokens)


def test_a_failing_forward_on_our_path_falls_back_to_eager(family_dirs, monkeypatch, rng):
    """Whatever our implementation raises inside a family's code, the model runs eager instead."""
    from attnviz.models import capture

    def broken(*args, **kwargs):
        raise KeyError("attnviz")

    monkeypatch.setattr(capture, "explicit_attention", broken)
    handle = attnviz.load_model(family_dirs["albert"])
    assert not handle.captures_natively and "KeyError" in handle.eager_reason
    monkeypatch.undo()
    text = random_sentence(rng, 5)
    ref = eager_attentions(family_dirs["albert"], handle.encode(text).inputs, "AlbertForMaskedLM")
    np.testing.assert_allclose(handle.attention(text).attentions, ref, atol=1e-5)


def test_grouped_query_attention_names_the_heads_that_share_keys(tmp_path, family_dirs, rng):
    """Llama with 4 query heads over 2 key/value heads: heads (0, 1) share one, (2, 3) the other."""
    config = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=64, vocab_size=200,
                                      max_position_embeddings=128, pad_token_id=0, bos_token_id=5, eos_token_id=6)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path)
    small_tokenizer().save_pretrained(tmp_path)
    handle = attnviz.load_model(tmp_path)
    assert handle.kv_groups == ((0, 1), (2, 3))
    text = random_sentence(rng, 7)
    result = handle.attention(text)
    assert result.meta["kv_groups"] == [[0, 1], [2, 3]]
    ref = eager_attentions(tmp_path, handle.encode(text).inputs, "LlamaForCausalLM")
    np.testing.assert_allclose(result.attentions, ref, atol=1e-5)
    one_each = attnviz.load_model(family_dirs["albert"])
    assert one_each.kv_groups is None and "kv_groups" not in one_each.attention(text).meta
