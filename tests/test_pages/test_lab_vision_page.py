"""The Lab's digits ViT opens on the image Attention and Attribution pages (AppTest)."""

from tests.helpers import chart_specs, click, open_page, strings_in


def test_a_lab_digits_model_opens_on_the_image_attention_and_attribution_pages():
    at = open_page("lab")
    at.selectbox(key="lab_task").set_value("digits").run()
    click(at, "Build a new model")
    at.button(key="lab_open_image").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Attention"
    at.switch_page("pages/attention.py").run()  # AppTest reruns the Lab page otherwise; a browser stays here
    picker = at.selectbox(key="attention_image")
    assert picker.options[:10] == [f"digit {i}" for i in range(10)] and picker.value == "digit 0"
    picker.set_value("digit 4").run()
    at.selectbox(key="image_query").set_value(6).run()  # r1c1 of the 4×4 grid (after [CLS])
    assert not at.exception and not at.error
    overlay = chart_specs(at)[0]
    assert "r1c1 → patches" in strings_in(overlay)
    assert any(t.get("type") == "image" for t in overlay["data"])  # the digit under the patch squares

    at.switch_page("pages/attribution.py").run()
    at.multiselect(key="image_methods").set_value(["occlusion", "integrated_gradients"]).run()
    at.selectbox(key="image_class").set_value("4").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="attribution_image").options[0] == "digit 0"
    titles = [strings_in(s) for s in chart_specs(at)]
    assert len(titles) >= 3 and all("class 4" in t for t in titles[:2])  # two overlays, then agreement
