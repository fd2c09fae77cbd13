"""Generation (attnviz.generation) against transformers' own `generate` and eager attentions on a tiny GPT-2."""

import numpy as np
import pytest
import torch

import attnviz
from attnviz.errors import InputError
from attnviz.generation import MAX_NEW_TOKENS, GenerationResult, attribute_generated, generate
from tests.helpers import random_sentence


@pytest.fixture(scope="module")
def gpt2(tiny_model_dirs):
    return attnviz.load_model(str(tiny_model_dirs["gpt2"]), device="cpu")


@pytest.fixture(scope="module")
def eager_gpt2(tiny_model_dirs):
    """An independent copy of the same weights on transformers' eager attention."""
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(str(tiny_model_dirs["gpt2"]), attn_implementation="eager").eval()


def reference(eager_gpt2, gpt2, prompt, steps, **kwargs):
    ids = gpt2.encode(prompt).inputs["input_ids"].cpu()
    out = eager_gpt2.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps, min_new_tokens=steps,
                              output_attentions=True, output_logits=True, return_dict_in_generate=True,
                              pad_token_id=0, **kwargs)
    return ids, out


def test_greedy_continuation_and_step_attention_match_transformers(gpt2, eager_gpt2, rng):
    prompt = random_sentence(rng, 5)
    gen = generate(gpt2, prompt, max_new_tokens=7)
    ids, out = reference(eager_gpt2, gpt2, prompt, 7, do_sample=False)
    assert gen.token_ids == tuple(out.sequences[0].tolist())
    assert gen.n_prompt == ids.shape[1] and gen.n_generated == 7 and gen.stop_reason == "length"
    # transformers' step s attends from the last input position: the row that predicted token s
    for step, layers in enumerate(out.attentions):
        expected = np.stack([a[0, :, -1].numpy() for a in layers])  # [layers, heads, keys]
        np.testing.assert_allclose(gen.attention_row(step), expected, atol=1e-5)
        probs = torch.softmax(out.logits[step][0].float(), -1)
        assert gen.probabilities[step] == pytest.approx(float(probs[gen.generated_ids[step]]), rel=1e-4)
        top = torch.topk(probs, 5)
        assert [t for t, _ in gen.alternatives[step]] == gpt2.tokenizer.convert_ids_to_tokens(top.indices.tolist())
        np.testing.assert_allclose([p for _, p in gen.alternatives[step]], top.values.numpy(), rtol=1e-4)
    assert gen.continuation == gpt2.tokenizer.decode(list(gen.generated_ids))


def test_own_rows_are_the_full_forward_rows(gpt2, eager_gpt2):
    gen = generate(gpt2, "Once upon a time", max_new_tokens=5)
    with torch.no_grad():
        ref = eager_gpt2(torch.tensor([gen.token_ids]), output_attentions=True).attentions
    full = np.stack([a[0].numpy() for a in ref])
    np.testing.assert_allclose(gen.attention.attentions, full, atol=1e-5)
    p = gen.position(4)
    np.testing.assert_allclose(gen.attention_row(4, which="own"), full[:, :, p, :p + 1], atol=1e-5)
    assert gen.attention.causal and gen.attention.readout == "last"


def test_sampling_is_seeded_and_matches_transformers_sampler(gpt2, eager_gpt2):
    a = generate(gpt2, "The river", max_new_tokens=6, do_sample=True, temperature=0.8, seed=11)
    b = generate(gpt2, "The river", max_new_tokens=6, do_sample=True, temperature=0.8, seed=11)
    c = generate(gpt2, "The river", max_new_tokens=6, do_sample=True, temperature=0.8, seed=12)
    assert a.token_ids == b.token_ids and a.token_ids != c.token_ids
    assert a.settings["seed"] == 11 and a.settings["do_sample"]
    # transformers draws with torch.multinomial from the global CPU generator: the same stream for one seed
    torch.manual_seed(11)
    _, out = reference(eager_gpt2, gpt2, "The river", 6, do_sample=True, temperature=0.8, top_k=0)
    assert a.token_ids == tuple(out.sequences[0].tolist())
    top1 = generate(gpt2, "The river", max_new_tokens=6, do_sample=True, top_k=1, seed=5)
    assert top1.token_ids == generate(gpt2, "The river", max_new_tokens=6).token_ids


def test_attribution_explains_the_generated_token_probability(gpt2, eager_gpt2):
    gen = generate(gpt2, "Seven green dogs", max_new_tokens=4)
    attr = attribute_generated(gpt2, gen, 2, "integrated_gradients")
    p = gen.position(2)
    assert attr.tokens == gen.tokens[:p]
    with torch.no_grad():
        logits = eager_gpt2(torch.tensor([gen.token_ids[:p]])).logits[0, -1]
    expected = float(torch.softmax(logits, -1)[gen.token_ids[p]])
    assert attr.output == pytest.approx(expected, rel=1e-4)
    assert attr.output == pytest.approx(float(gen.probabilities[2]), rel=1e-4)
    assert attr.label == gen.generated_tokens[2]
    assert abs(attr.delta) < 0.05 * max(abs(attr.output), 1e-6) + 1e-6  # IG completeness
    occl = attribute_generated(gpt2, gen, 0, "occlusion")
    assert len(occl.scores) == gen.n_prompt


def test_generation_stops_at_the_end_of_sequence_token(tiny_model_dirs):
    handle = attnviz.load_model(str(tiny_model_dirs["gpt2"]), device="cpu")  # own copy: its config is changed
    first = generate(handle, "Paper city", max_new_tokens=3).generated_ids[0]
    handle.model.generation_config.eos_token_id = first
    gen = generate(handle, "Paper city", max_new_tokens=3)
    assert gen.n_generated == 1 and gen.stop_reason == "eos"
    assert generate(handle, "Paper city", max_new_tokens=3, stop_at_eos=False).n_generated == 3


def test_bad_requests_are_input_errors(gpt2, default_handle, tiny_model_dirs):
    with pytest.raises(InputError, match="causal language model"):
        generate(default_handle, "Hello")
    for bad in (0, MAX_NEW_TOKENS + 1, 2.5, True):
        with pytest.raises(InputError, match="max_new_tokens"):
            generate(gpt2, "Hello", max_new_tokens=bad)
    with pytest.raises(InputError, match="temperature"):
        generate(gpt2, "Hello", do_sample=True, temperature=0)
    with pytest.raises(InputError, match="fills the model's context"):
        generate(gpt2, "word " * 200)
    gen = generate(gpt2, "word " * 120, max_new_tokens=20)  # 128 positions: capped to the room left
    assert len(gen.token_ids) == gpt2.max_length
    with pytest.raises(InputError, match="does not exist"):
        gen.attention_row(gen.n_generated)
    with pytest.raises(InputError, match="generated by"):
        attribute_generated(attnviz.load_model(str(tiny_model_dirs["bert"]), device="cpu"), gen, 0)


def test_result_serialises(gpt2):
    gen = generate(gpt2, "Bright winter music", max_new_tokens=3)
    back = GenerationResult.from_json(gen.to_json())
    assert back.token_ids == gen.token_ids and back.words == gen.words and back.alternatives == gen.alternatives
    np.testing.assert_array_equal(back.attention.attentions, gen.attention.attentions)
    df = gen.to_dataframe()
    assert df["token"].tolist() == list(gen.generated_tokens) and df["position"].iloc[0] == gen.n_prompt
    with pytest.raises(InputError):
        GenerationResult.from_json("{}")


def test_next_token_target_by_id_matches_by_string(gpt2):
    from attnviz.models.targets import NextTokenTarget

    by_name = gpt2.attribute("The dog", "saliency", target=NextTokenTarget("river"))
    river = gpt2.tokenizer.convert_tokens_to_ids("river")
    by_id = gpt2.attribute("The dog", "saliency", target=NextTokenTarget(token_id=river))
    assert by_id.target == by_name.target and by_id.output == pytest.approx(by_name.output, rel=1e-6)
    np.testing.assert_allclose(by_id.scores, by_name.scores, rtol=1e-5)
    with pytest.raises(InputError, match="does not exist"):
        gpt2.attribute("The dog", "saliency", target=NextTokenTarget(token_id=10**6))


def test_too_much_attention_is_refused_before_generating(gpt2, monkeypatch):
    from attnviz.errors import ResourceError
    from attnviz.models import encoding as limits

    n = len(gpt2.encode("Seven green dogs")) + 4
    monkeypatch.setattr(limits, "MAX_ATTENTION_VALUES", gpt2.num_layers * gpt2.num_heads * n * n - 1)
    with pytest.raises(ResourceError, match="attention values"):
        generate(gpt2, "Seven green dogs", max_new_tokens=4)
    assert generate(gpt2, "Seven green dogs", max_new_tokens=3).n_generated == 3


def test_a_model_without_a_kv_cache_reruns_the_prefix_with_the_same_result(gpt2, monkeypatch):
    from attnviz import generation

    cached = generate(gpt2, "Heavy storm", max_new_tokens=5)
    monkeypatch.setattr(generation, "_forward_arguments", lambda model: (None, {}))
    plain = generate(gpt2, "Heavy storm", max_new_tokens=5)
    assert plain.token_ids == cached.token_ids
    np.testing.assert_allclose(plain.probabilities, cached.probabilities, rtol=1e-5)
