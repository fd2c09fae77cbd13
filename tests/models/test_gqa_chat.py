"""Chat models (issue 13): grouped-query attention shown by key/value group, the chat template option,
BOS and pad handling. One tiny Llama (4 query heads over 2 key/value heads) with a small tokenizer that
carries a Jinja chat template, built offline once for the module."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import transformers

import attnviz
from attnviz.attention import AttentionResult
from attnviz.errors import InputError
from attnviz.figures import attention as figs
from tests.helpers import eager_attentions, random_sentence, small_tokenizer

TEMPLATE = ("{% for m in messages %}<s>[{{ m['role'] }}] {{ m['content'] }}</s>{% endfor %}"
            "{% if add_generation_prompt %}<s>[assistant]{% endif %}")
ARCH = "LlamaForCausalLM"


def tiny_llama(path, *, chat: bool = True, seed: int = 0):
    config = transformers.LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=64, vocab_size=200,
                                      max_position_embeddings=128, pad_token_id=0, bos_token_id=5, eos_token_id=6)
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config).eval()
    model.save_pretrained(path)
    tok = small_tokenizer()
    if chat:
        tok.chat_template = TEMPLATE
    tok.save_pretrained(path)
    return model


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("llama_gqa_chat")
    tiny_llama(path)
    return path


@pytest.fixture(scope="module")
def llama(llama_dir):
    return attnviz.load_model(llama_dir)


# ------------------------------------------------------------------ grouped-query attention
def _result(heads=4, groups=((0, 1), (2, 3)), n=4, seed=0):
    rng = np.random.default_rng(seed)
    att = rng.random((2, heads, n, n)).astype(np.float32)
    att /= att.sum(-1, keepdims=True)
    meta = {"kv_groups": [list(g) for g in groups]} if groups else {}
    return AttentionResult(tokens=tuple(f"t{i}" for i in range(n)), attentions=att, layers=(0, 1),
                           kinds=("text",) * n, segments=np.zeros(n, np.int8), meta=meta)


def test_group_mean_is_the_mean_of_the_heads_sharing_a_key_value_head():
    result = _result(heads=6, groups=((0, 1, 2), (3, 4, 5)))
    att = result.attentions.astype(np.float64)
    by_hand = np.empty((2, 2, 4, 4))
    for layer in range(2):
        for q in range(4):
            for k in range(4):
                by_hand[layer, 0, q, k] = (att[layer, 0, q, k] + att[layer, 1, q, k] + att[layer, 2, q, k]) / 3
                by_hand[layer, 1, q, k] = (att[layer, 3, q, k] + att[layer, 4, q, k] + att[layer, 5, q, k]) / 3
    assert result.kv_groups == ((0, 1, 2), (3, 4, 5))
    np.testing.assert_allclose(result.group_mean(), by_hand, rtol=1e-6)
    np.testing.assert_allclose(result.group_mean().sum(-1), 1.0, atol=1e-6)  # still rows of weights
    with pytest.raises(InputError, match="no grouped-query"):
        _result(groups=None).group_mean()
    with pytest.raises(InputError, match="cover"):
        _result(groups=((0, 1), (1, 2))).group_mean()


def test_the_model_view_labels_groups_and_separates_them():
    result = _result()
    fig = figs.model_view(result.attentions, kv_groups=result.kv_groups)
    assert list(fig.layout.xaxis.ticktext) == ["head 0 · kv 0", "head 1 · kv 0", "head 2 · kv 1", "head 3 · kv 1"]
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(lines) == 1 and lines[0].line.dash == "dash"  # one boundary: between heads 1 and 2
    assert fig.layout.shapes[0].x0 < fig.layout.xaxis.tickvals[2] and fig.layout.shapes[0].x0 > fig.layout.xaxis.tickvals[1]
    means = figs.model_view(result.group_mean(), head_labels=figs.kv_group_labels(result.kv_groups),
                            head_ids=[0, 2])
    assert list(means.layout.xaxis.ticktext) == ["kv 0 (heads 0–1)", "kv 1 (heads 2–3)"]
    assert [c[1] for c in means.data[1].customdata[:2]] == [0, 2]  # a click selects the group's first head
    assert not [s for s in means.layout.shapes if s.type == "line"]
    heat = figs.kv_group_heatmap(result, 1, 1)
    np.testing.assert_allclose(np.asarray(heat.data[0].z), result.attentions[1, 2:4].mean(0), rtol=1e-6)
    assert "key/value group 1 (mean of heads 2–3)" in heat.layout.title.text


def test_query_heads_of_one_group_share_its_keys(llama_dir, llama, tmp_path, rng):
    """Independent of the group formula: change the keys of key/value head 1 only, and exactly the query
    heads attnviz names for group 1 change their first-layer attention."""
    assert llama.kv_groups == ((0, 1), (2, 3))
    shutil.copytree(llama_dir, tmp_path, dirs_exist_ok=True)
    model = transformers.LlamaForCausalLM.from_pretrained(tmp_path)
    head_dim = model.config.hidden_size // model.config.num_attention_heads
    with torch.no_grad():
        model.model.layers[0].self_attn.k_proj.weight[head_dim:2 * head_dim] *= 3.0
    model.save_pretrained(tmp_path)
    text = random_sentence(rng, 6)
    before = llama.attention(text, layers=[0]).attentions[0]
    after = attnviz.load_model(tmp_path).attention(text, layers=[0]).attentions[0]
    changed = [h for h in range(4) if not np.allclose(before[h], after[h], atol=1e-6)]
    assert changed == list(llama.kv_groups[1])
    np.testing.assert_allclose(before, eager_attentions(llama_dir, llama.encode(text).inputs, ARCH)[0], atol=1e-5)


# ------------------------------------------------------------------ the chat template
def test_the_chat_template_marks_its_tokens_special_and_matches_eager(llama_dir, llama, rng):
    text = random_sentence(rng, 5)
    plain = llama.encode(text)
    chat = llama.encode(text, chat_template=True)
    rendered = llama.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                   add_generation_prompt=True)
    assert chat.inputs["input_ids"][0].tolist() == llama.tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert chat.tokens[0] == "<s>" and chat.tokens[-1] == "]"  # "<s>[assistant]" opens the reply
    message = [t for t, k in zip(chat.tokens, chat.kinds) if k not in ("cls", "sep", "special")]
    assert message == [t for t, k in zip(plain.tokens, plain.kinds) if k not in ("cls", "sep", "special")]
    assert "user" not in "".join(message) and (chat.segments[np.array(chat.kinds) == "special"] == -1).all()
    result = llama.attention(text, chat_template=True)
    assert result.meta["chat_template"] is True and result.tokens == chat.tokens
    np.testing.assert_allclose(result.attentions, eager_attentions(llama_dir, chat.inputs, ARCH), atol=1e-5)
    assert result.without_special().tokens == tuple(message)
    scores = llama.attribute(text, "integrated_gradients", chat_template=True, n_steps=4).scores
    assert len(scores) == len(chat.tokens) and np.isfinite(scores).all()


def test_no_template_or_a_pair_is_a_clear_error(llama_dir, tmp_path):
    shutil.copytree(llama_dir, tmp_path, dirs_exist_ok=True)
    cfg = json.loads((tmp_path / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(cfg))
    (tmp_path / "chat_template.jinja").unlink(missing_ok=True)
    plain = attnviz.load_model(tmp_path)
    assert not plain.has_chat_template and plain.describe()["chat_template"] is False
    with pytest.raises(InputError, match="no chat template"):
        plain.attention("The cat sat", chat_template=True)
    with pytest.raises(InputError, match="one text"):
        attnviz.load_model(llama_dir).attention("The cat", "sat", chat_template=True)


# ------------------------------------------------------------------ BOS and padding
def test_describe_says_whether_a_bos_is_prepended_and_a_pad_exists(llama, tiny_model_dirs):
    info = llama.describe()
    assert info["kv_groups"] == ((0, 1), (2, 3)) and info["chat_template"] is True
    assert info["bos_prepended"] is True  # the small tokenizer starts with [CLS]
    gpt2 = attnviz.load_model(tiny_model_dirs["gpt2"])
    assert gpt2.describe()["bos_prepended"] is (gpt2.encode("a").kinds[0] == "cls")


# ------------------------------------------------------------------ the Attention page
def test_the_attention_page_shows_key_value_groups_and_the_chat_template(llama_dir):
    from tests.helpers import chart_specs, click, open_page

    at = open_page(model_key=(str(llama_dir), "cpu", "float32"))
    assert not at.exception and not at.error
    grid = chart_specs(at)[0]
    assert grid["layout"]["xaxis"]["ticktext"][:3] == ["head 0 · kv 0", "head 1 · kv 0", "head 2 · kv 1"]
    assert sum(s.get("line", {}).get("dash") == "dash" for s in grid["layout"].get("shapes", [])) == 1
    at.toggle(key="attention_kv_mean").set_value(True).run()
    assert not at.exception and not at.error
    grid, heat = chart_specs(at)[:2]
    assert grid["layout"]["xaxis"]["ticktext"] == ["kv 0 (heads 0–1)", "kv 1 (heads 2–3)"]
    assert "key/value group 0" in heat["layout"]["title"]["text"]
    at.checkbox(key="attention_chat").check()
    at = click(at, "Analyse")
    assert not at.exception and not at.error
    labels = chart_specs(at)[1]["data"][0]["x"]
    assert labels[0] == "&lt;s&gt;" and "[" in labels  # the template's tokens, escaped
    at.toggle(key="attention_hide_special").set_value(True).run()
    assert "&lt;s&gt;" not in chart_specs(at)[1]["data"][0]["x"] and not at.exception


def test_the_attribution_page_explains_the_chat_formatted_input(llama_dir, llama):
    """The Attribution page's chat option: the scores shown are the library's for the templated input
    (template tokens included, escaped), not the plain text's."""
    from tests.helpers import chart_specs, click, open_page, z_of

    text = "the cat sat on the mat"
    at = open_page("attribution", model_key=(str(llama_dir), "cpu", "float32"))
    assert not at.exception and not at.error
    at.text_area(key="attribution_page_text").set_value(text)
    at.multiselect(key="attribution_methods").set_value(["saliency"])
    at.radio(key="attribution_level").set_value("token")
    at.checkbox(key="attribution_chat").check()
    at = click(at, "Explain")
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = chart_specs(at)[0]
    expected = llama.attribute(text, "saliency", chat_template=True)
    plain = llama.attribute(text, "saliency")
    assert len(expected.tokens) > len(plain.tokens)
    assert spec["layout"]["xaxis"]["ticktext"][0] == "&lt;s&gt;"
    np.testing.assert_allclose(z_of(spec, field="customdata")[0], expected.scores, rtol=1e-4, atol=1e-7)
    assert z_of(spec).shape == (1, len(expected.tokens))


def test_a_tokenizer_without_pad_works_in_batches_and_stays_unchanged(tmp_path):
    """GPT-2-like: no pad token. Batched explanations (audit, SHAP, IG) equal each input explained alone;
    the tokenizer is never given a pad token (the classifier's own config gets the id batches use)."""
    from attnviz.attribution.explain import attribute_batch
    from attnviz.models.targets import ClassTarget, sentence_embedding

    config = transformers.GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=64, vocab_size=200, num_labels=2,
                                     bos_token_id=5, eos_token_id=6)
    assert config.pad_token_id is None
    torch.manual_seed(0)
    transformers.GPT2ForSequenceClassification(config).save_pretrained(tmp_path)
    tok = small_tokenizer()
    tok.pad_token = None
    tok.save_pretrained(tmp_path)
    handle = attnviz.load_model(tmp_path)
    assert handle.tokenizer.pad_token_id is None and handle.describe()["pad_token"] is False
    assert handle.pools_by_pad_token and handle.model.config.pad_token_id == handle.tokenizer.eos_token_id
    assert handle.readout == "last"  # rollout & co. read the row its head reads, not a [CLS] it does not have
    texts = ["the cat sat on the mat", "a dog"]
    settings = {"integrated_gradients": {"n_steps": 4}, "shap": {"max_evals": 20}}
    batch = attribute_batch(handle, [handle.encode(t) for t in texts], ClassTarget(), list(settings),
                            settings=settings)
    for text, row in zip(texts, batch):
        alone = handle.attribute(text, "integrated_gradients", target=ClassTarget(), n_steps=4)
        assert row.output == pytest.approx(alone.output, abs=1e-6)
        np.testing.assert_allclose(row.outputs["integrated_gradients"].scores, alone.scores, atol=1e-6)
        shap = row.outputs["shap"].scores
        assert len(shap) == len(handle.encode(text).tokens) and np.isfinite(shap).all()
    assert handle.tokenizer.pad_token_id is None
    transformers.GPT2Model(config).save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    base = attnviz.load_model(tmp_path / "base")  # sentence embeddings (zero-shot, WEAT) of a pad-less model
    both = sentence_embedding(base, texts).numpy()
    for j, text in enumerate(texts):
        np.testing.assert_allclose(both[j], sentence_embedding(base, [text]).numpy()[0], atol=1e-5)


# ------------------------------------------------------------------ big models: device_map
def test_device_map_without_accelerate_is_a_clear_error(llama_dir, monkeypatch):
    import sys

    from attnviz.errors import ModelLoadError

    monkeypatch.setitem(sys.modules, "accelerate", None)  # as if it were not installed
    with pytest.raises(ModelLoadError, match="pip install accelerate"):
        attnviz.load_model(llama_dir, device_map="auto")
    with pytest.raises(InputError, match="device_map"):
        attnviz.load_model(llama_dir, device_map=3)


def test_a_model_spread_by_device_map_gives_the_same_results(llama_dir, llama, rng):
    """The accelerate path (hooks between layers, outputs back on the inputs' device) on CPU devices: a
    hand-written split per module and "auto" give the single-device results."""
    pytest.importorskip("accelerate")
    split = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu",
             "model.layers.1": "cpu", "model.norm": "cpu", "lm_head": "cpu"}
    text = random_sentence(rng, 6)
    reference = llama.attention(text).attentions
    ig = llama.attribute(text, "integrated_gradients", n_steps=4).scores
    for device_map in (split, "auto"):
        spread = attnviz.load_model(llama_dir, device_map=device_map)
        assert spread.device.type == "cpu"  # (transformers keeps no hf_device_map for a one-device map)
        np.testing.assert_allclose(spread.attention(text).attentions, reference, atol=1e-6)
        np.testing.assert_allclose(spread.attribute(text, "integrated_gradients", n_steps=4).scores, ig, atol=1e-6)


# ------------------------------------------------------------------ sentence-transformers pooling
def _sentence_transformers_dir(path, family: str, arch: str, pooling: dict, max_seq_length: int = 16):
    config = transformers.CONFIG_MAPPING[family](hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                 intermediate_size=64, vocab_size=200)
    torch.manual_seed(0)
    getattr(transformers, arch)(config).save_pretrained(path)
    small_tokenizer().save_pretrained(path)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (path / "modules.json").write_text(json.dumps(modules))
    (path / "1_Pooling").mkdir()
    (path / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **pooling}))
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    return path


@pytest.mark.parametrize(("family", "arch", "mode"), [("mpnet", "MPNetModel", "cls"),
                                                      ("deberta-v2", "DebertaV2Model", "mean")])
def test_sentence_transformers_pooling_is_read_from_the_checkpoint(tmp_path, family, arch, mode):
    from attnviz.models.targets import sentence_embedding

    flags = {"pooling_mode_cls_token": mode == "cls", "pooling_mode_mean_tokens": mode == "mean"}
    handle = attnviz.load_model(_sentence_transformers_dir(tmp_path, family, arch, flags))
    assert handle.pooling == mode and handle.readout == mode and handle.sentence_max_length == 16
    texts = ["the cat sat on the mat", "a dog"]
    model = getattr(transformers, arch).from_pretrained(tmp_path).eval()
    for text, got in zip(texts, sentence_embedding(handle, texts).numpy()):  # padded together, read alone
        enc = handle.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state[0]
        pooled = hidden[0] if mode == "cls" else hidden.mean(0)
        np.testing.assert_allclose(got, (pooled / pooled.norm()).numpy(), atol=1e-5)


def test_last_token_pooling_reads_each_rows_last_real_token():
    from attnviz.models.targets import sentence_pool

    hidden = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2) + 1
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    got = sentence_pool(hidden, mask, "last")
    np.testing.assert_allclose(got[0], hidden[0, 2] / hidden[0, 2].norm(), rtol=1e-6)
    np.testing.assert_allclose(got[1], hidden[1, 1] / hidden[1, 1].norm(), rtol=1e-6)
