"""The Generate page through AppTest: the encoder explanation, a tiny GPT-2's continuation, token choice."""

import numpy as np
import pytest

import attnviz
from attnviz.generation import attribute_generated, generate
from attnviz.ui import MODEL_KEY
from tests.helpers import chart_specs, click, open_link, open_page, z_of


@pytest.fixture(scope="module")
def gpt2_key(tiny_model_dirs):
    return (str(tiny_model_dirs["gpt2"]), "cpu", "float32")


def test_encoder_model_gets_an_explanation_not_a_failure():
    at = open_page("generate")
    assert not at.exception and not at.error
    assert at.title[0].value == "Generate"
    assert at.info and "causal language model" in at.info[0].value and "gpt2" in at.info[0].value
    assert not at.get("plotly_chart")


def test_tiny_gpt2_generates_and_the_view_follows_the_chosen_token(gpt2_key):
    at = open_page("generate", gpt2_key)
    at.text_area(key="generate_prompt").set_value("Seven green dogs")
    at.slider(key="generate_max_new").set_value(5)
    at = click(at, "Generate")
    assert not at.exception and not at.error, [e.value for e in at.error]
    handle = attnviz.load_model(gpt2_key[0], device="cpu")
    expected = generate(handle, "Seven green dogs", max_new_tokens=5)
    assert at.text[0].value == expected.continuation
    at.select_slider(key="generate_step").set_value(3)
    at.selectbox(key="generate_method").set_value("input_x_gradient")
    at = at.run()
    assert not at.exception and not at.error
    probs, rows, attribution = chart_specs(at)[:3]
    colors = probs["data"][0]["marker"]["color"]
    assert colors[3] != colors[0]  # the chosen token is highlighted
    top_token, top_p = expected.alternatives[3][0]
    assert any(c.value.startswith("Step 3, the model's most probable tokens") and f"{top_p:.3g}" in c.value
               for c in at.caption)
    np.testing.assert_allclose(z_of(rows), expected.attention_row(3).mean(1), atol=1e-6)
    reference = attribute_generated(handle, expected, 3, "input_x_gradient")
    assert any(f"{reference.output:.4g}" in m.value and "p(next" in m.value for m in at.markdown)
    assert z_of(attribution).shape == (1, expected.n_prompt + 3)
    at.selectbox(key="generate_layer").set_value(1)
    at.radio(key="generate_row").set_value("own")
    at = at.run()
    np.testing.assert_allclose(z_of(chart_specs(at)[1]), expected.attention_row(3, which="own")[1], atol=1e-6)


def test_sampling_with_a_seed_and_an_empty_prompt(gpt2_key):
    at = open_page("generate", gpt2_key)
    at.radio(key="generate_decoding").set_value("sampling")
    at.number_input(key="generate_seed").set_value(7)
    at.slider(key="generate_max_new").set_value(4)
    at = click(at, "Generate")
    assert not at.exception and not at.error
    handle = attnviz.load_model(gpt2_key[0], device="cpu")
    assert at.text[0].value == generate(handle, at.text_area(key="generate_prompt").value, max_new_tokens=4,
                                        do_sample=True, seed=7).continuation
    at.text_area(key="generate_prompt").set_value("  ")
    at = click(at, "Generate")
    assert not at.exception and at.error and "empty" in at.error[0].value


# ------------------------------------------------------------------ links, session files, guidance, presenter
def test_a_link_reopens_the_same_generated_token(gpt2_key):
    link = {"model": gpt2_key[0], "device": "cpu", "prompt": "Seven green dogs", "new": "5", "token": "3",
            "row": "own", "layer": "1", "method": "input_x_gradient"}
    at = open_link(link, "generate")
    assert not at.exception and not at.error and not at.warning, [w.value for w in at.warning]
    handle = attnviz.load_model(gpt2_key[0], device="cpu")
    expected = generate(handle, "Seven green dogs", max_new_tokens=5)
    assert at.text[0].value == expected.continuation
    assert at.select_slider(key="generate_step").value == 3 and at.radio(key="generate_row").value == "own"
    probs, rows, attribution = chart_specs(at)[:3]
    np.testing.assert_allclose(z_of(rows), expected.attention_row(3, which="own")[1], atol=1e-6)
    reference = attribute_generated(handle, expected, 3, "input_x_gradient")
    scaled = reference.scores / np.abs(reference.scores).max()  # the row is scaled to its max |score|
    np.testing.assert_allclose(z_of(attribution)[0], scaled, rtol=1e-3, atol=1e-4)
    assert dict(at.query_params) == link
    again = open_link(dict(at.query_params), "generate")
    assert not again.exception and not again.warning
    assert [c.proto.spec for c in again.get("plotly_chart")] == [c.proto.spec for c in at.get("plotly_chart")]


def test_a_sampling_link_reproduces_the_sampled_text(gpt2_key):
    at = open_link({"model": gpt2_key[0], "device": "cpu", "prompt": "Once", "new": "6", "decoding": "sampling",
                    "temperature": "0.7", "top_k": "5", "seed": "11"}, "generate")
    assert not at.exception and not at.error and not at.warning
    assert at.number_input(key="generate_temperature").value == 0.7 and at.number_input(key="generate_top_k").value == 5
    handle = attnviz.load_model(gpt2_key[0], device="cpu")
    assert at.text[0].value == generate(handle, "Once", max_new_tokens=6, do_sample=True, temperature=0.7, top_k=5,
                                        seed=11).continuation
    at.number_input(key="generate_seed").set_value(12)
    click(at, "Generate")
    assert at.query_params["seed"] == "12" and at.query_params["decoding"] == "sampling"


def test_tampered_generate_links_are_ignored_with_a_notice(gpt2_key):
    at = open_link({"model": gpt2_key[0], "device": "cpu", "new": "100000", "temperature": "nan",
                    "decoding": "beam<script>", "layer": "99", "token": "-2", "method": "evil", "seed": "x",
                    "new_tokens": "3", "prompt": "Hello there"}, "generate")
    assert not at.exception and not at.error
    warning = " ".join(w.value for w in at.warning)
    for name in ("new", "temperature", "decoding", "layer", "token", "method", "seed"):
        assert f"`{name}`" in warning, name
    assert "<script>" not in warning and "evil" not in warning
    assert at.text_area(key="generate_prompt").value == "Hello there"
    assert (at.slider(key="generate_max_new").value, at.radio(key="generate_decoding").value) == (12, "greedy")
    assert at.selectbox(key="generate_layer").value == "all" and at.selectbox(key="generate_method").value == (
        "integrated_gradients")


def test_a_session_file_restores_the_generation(gpt2_key):
    from attnviz.session import SessionFile

    state = {"prompt": "Seven green dogs", "new": "4", "token": "2", "method": "saliency", "layer": "0"}
    data = SessionFile.build("generate", gpt2_key, state).to_json().encode()
    at = open_link({}, "generate")  # the default (encoder) model: the file brings the GPT-2 with it
    at.file_uploader(key="session_upload_generate").set_value(("s.json", data, "application/json")).run()
    assert not at.exception and not at.error and at.success and "Session loaded" in at.success[0].value
    assert at.session_state[MODEL_KEY] == gpt2_key
    handle = attnviz.load_model(gpt2_key[0], device="cpu")
    expected = generate(handle, "Seven green dogs", max_new_tokens=4)
    assert at.text[0].value == expected.continuation and at.select_slider(key="generate_step").value == 2
    np.testing.assert_allclose(z_of(chart_specs(at)[1]), expected.attention_row(2)[0], atol=1e-6)
    assert [b for b in at.sidebar.get("download_button") if b.label == "Save session (.json)"]


def test_guidance_for_each_view_is_shown(gpt2_key):
    from attnviz.guidance import GUIDANCE

    at = open_link({"model": gpt2_key[0], "device": "cpu", "new": "3", "method": "saliency"}, "generate")
    assert not at.exception
    texts = [m.value for e in at.expander if e.label == "What am I looking at?" for m in e.markdown]
    for view in ("continuation", "attention", "attribution"):
        assert GUIDANCE[f"generate/{view}"] in texts, view


def test_presenter_mode_hides_the_sampling_settings_under_greedy_decoding(gpt2_key):
    at = open_link({"model": gpt2_key[0], "device": "cpu", "new": "3", "method": "saliency", "presenter": "1",
                    "seed": "5"}, "generate")
    assert not at.exception and not at.error
    assert not at.number_input and not at.dataframe
    assert at.query_params["seed"] == "5"  # hidden, not forgotten
    at.radio(key="generate_decoding").set_value("sampling")
    click(at, "Generate")
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert at.number_input(key="generate_seed").value == 5  # shown for sampling, with the link's value
    assert at.number_input(key="generate_temperature").value == 1.0 and not at.dataframe
