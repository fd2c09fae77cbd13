"""The Lab page trains a text model that the Generate page then uses, offline (AppTest)."""

from tests.helpers import open_page


def test_a_lab_text_model_generates_on_the_generate_page():
    at = open_page("lab")
    at.selectbox(key="lab_task").set_value("copy").run()
    at.button(key="lab_text_model").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Generate"
    prompt = at.session_state["generate_prompt"]
    assert prompt.endswith("|") and at.text_area(key="generate_prompt").value == prompt
    assert not at.info  # no "needs a causal language model" notice
    digits = prompt.split()[:-1]
    assert [t.value for t in at.text] == [" ".join(digits)]  # the continuation: the copy
