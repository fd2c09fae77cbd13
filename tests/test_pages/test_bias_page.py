"""The Bias probes page through AppTest: each probe on the default model and on tiny random models,
and bad uploads shown as messages."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import chart_specs, open_page, strings_in


def choose(at: AppTest, probe: str) -> AppTest:
    next(r for r in at.radio if r.label == "Probe").set_value(probe)
    return at.run()


def table_with(at: AppTest, column: str):
    """The first result table with ``column`` (the editable input tables come first)."""
    return next(d.value for d in at.dataframe if column in d.value)


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_counterfactual_probe_on_the_default_model():
    at = open_page("bias")
    ok(at)
    assert at.title[0].value == "Bias probes"
    assert any("p(positive | x)" in m.value for m in at.markdown)
    charts = chart_specs(at)
    assert len(charts) == 4  # group means, gaps, identity share, heads × groups
    assert any("Which heads attend" in strings_in(c) for c in charts)
    axes = table_with(at, "ctf_gap")
    assert set(axes["axis"]) == {"gender", "ethnicity", "religion"} and (axes["ctf_gap"] > 0).all()
    assert any(b.label == "Everything (JSON)" for b in at.get("download_button"))
    # another heads × groups axis and raw means: served from the cache, no new run
    next(s for s in at.selectbox if s.label.startswith("Axis")).set_value("religion")
    next(r for r in at.radio if r.label == "Group means of").set_value("output")
    ok(at.run())


def test_weat_probe_on_the_default_model():
    at = choose(open_page("bias"), "weat")
    ok(at)
    table = table_with(at, "effect_size")
    flowers = table[table["test"].str.startswith("flowers")].iloc[0]
    assert flowers["effect_size"] > 0.8 and flowers["p_value"] < 0.01
    assert any("not evidence" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 2


def test_pairs_probe_needs_a_language_model():
    at = choose(open_page("bias"), "pairs")
    ok(at)
    assert any("language-model head" in i.value for i in at.info)


@pytest.mark.parametrize("family,probe", [("bert-mlm", "pairs"), ("bert-mlm", "counterfactual"),
                                          ("bert-classifier", "counterfactual"), ("gpt2", "pairs")])
def test_probes_on_tiny_models(tiny_model_dirs, family, probe):
    at = open_page("bias", (str(tiny_model_dirs[family]), "cpu", "float32"))
    at = choose(at, probe)
    ok(at)
    if probe == "pairs":
        assert at.metric and at.metric[0].value.endswith("%")
    else:
        assert len(at.get("plotly_chart")) == 4


def test_bad_upload_is_a_message_not_an_exception():
    at = open_page("bias")
    uploader = next(u for u in at.file_uploader if u.label.startswith("Identity terms"))
    uploader.set_value(("terms.csv", "axis,group,term\nreligion,Muslim,Müslim\n".encode("latin-1"), "text/csv"))
    at = at.run()
    assert not at.exception
    assert at.error and "UTF-8" in at.error[0].value
    assert len(at.get("plotly_chart")) == 4  # the shipped terms are used instead

    at = choose(at, "weat")
    uploader = next(u for u in at.file_uploader if u.label.startswith("Word lists"))
    uploader.set_value(("words.csv", b"name,words\nflowers,rose\n", "text/csv"))
    at = at.run()
    assert not at.exception and any("needs the columns list, word" in e.value for e in at.error)


def test_a_valid_upload_is_used():
    at = open_page("bias")
    uploader = next(u for u in at.file_uploader if u.label.startswith("Identity terms"))
    uploader.set_value(("terms.csv", b"axis,group,term\nsize,small,small\nsize,tall,tall\n", "text/csv"))
    at = at.run()
    ok(at)  # the uploaded axis replaces the default choice of axes
    assert next(m for m in at.multiselect if m.label == "Axes").value == ["size"]
    assert table_with(at, "ctf_gap")["axis"].tolist() == ["size"]
    assert set(table_with(at, "mean_output")["group"]) == {"small", "tall"}
