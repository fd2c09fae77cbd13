"""The Attention Lab page through AppTest: it renders, trains a few steps, stops, steps through a head."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import click, open_page


def lab_page() -> AppTest:
    at = open_page("lab")
    assert not at.exception, at.exception
    return at


def step_of(at) -> int:
    return at.session_state["lab_trainer"].step


def test_renders_with_a_ready_model_and_a_verified_step_through():
    at = lab_page()
    assert at.title[0].value == "Attention Lab" and not at.error
    assert at.selectbox(key="lab_task").value == "associative_recall"
    assert step_of(at) == 0 and at.button(key="lab_stop").disabled
    assert len(at.get("plotly_chart")) >= 2  # the step-0 snapshot (one head + all heads)
    assert any("Recomputed by hand" in s.value and "e-0" in s.value for s in at.success)


def test_train_a_few_steps_then_stop():
    at = lab_page()
    at.button(key="lab_train").click().run()
    assert not at.exception and at.session_state["lab_running"]
    first = step_of(at)
    at.run()  # every run while training trains one more chunk
    assert step_of(at) > first > 0
    progress = at.get("progress")[0].proto.text
    assert progress.startswith(f"step {step_of(at)}")
    at.button(key="lab_stop").click().run()
    assert not at.session_state["lab_running"]
    stopped = step_of(at)
    at.run()
    assert step_of(at) == stopped


def test_changing_the_task_loads_its_recipe_and_builds_a_new_model():
    at = lab_page()
    at.selectbox(key="lab_task").set_value("copy").run()
    assert at.selectbox(key="lab_layers").value == 1
    assert any("press" in i.value for i in at.info)  # the old model no longer matches the settings
    at.selectbox(key="lab_score").set_value("cosine")
    at.selectbox(key="lab_mask").set_value("causal").run()
    click(at, "Build a new model")
    trainer = at.session_state["lab_trainer"]
    assert trainer.task.name == "copy" and trainer.config.score == "cosine" and trainer.config.mask == "causal"
    assert not at.exception and not any("press" in i.value for i in at.info)  # the new model matches


@pytest.mark.parametrize("score", ["dot", "scaled_dot"])
def test_step_through_the_sidebar_model(score):
    at = lab_page()
    at.radio(key="lab_step_source").set_value("sidebar").run()
    assert not at.exception
    assert any("Recomputed by hand" in s.value for s in at.success)
    at.segmented_control(key="lab_rescore").set_value(score).run()
    assert not at.exception and not at.error


def test_the_digits_task_renders():
    at = lab_page()
    at.selectbox(key="lab_task").set_value("digits").run()
    click(at, "Build a new model")
    assert not at.exception
    assert at.session_state["lab_trainer"].config.is_image_model
    assert at.radio(key="lab_step_source").value == "sidebar"


def test_a_trained_lab_model_is_used_by_the_attention_and_attribution_pages():
    at = lab_page()
    at.button(key="lab_train").click().run()
    at.run()
    at.button(key="lab_stop").click().run()
    use = next(b for b in at.button if b.label.startswith("Use this model"))
    use.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Attention"
    assert len(at.get("plotly_chart")) == 2  # the lab model's attention grid + one head
    at.switch_page("pages/attribution.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("p(" in m.value for m in at.markdown)
