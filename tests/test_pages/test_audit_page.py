"""The Audit page through AppTest: the sample set, progress, aggregate views, downloads, bad uploads."""

from streamlit.testing.v1 import AppTest

from tests import helpers
from tests.helpers import chart_specs, strings_in


def open_page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("ATTNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return helpers.open_page("audit")


def run_audit(at: AppTest, *, limit=3, methods=("saliency", "input_x_gradient")) -> AppTest:
    next(n for n in at.number_input if n.label.startswith("Examples")).set_value(limit)
    next(m for m in at.multiselect if m.label == "Attribution methods").set_value(list(methods))
    next(c for c in at.checkbox if c.label == "Measure faithfulness").set_value(False)
    return click_run(at)


def test_sample_set_runs_with_progress_views_and_downloads(tmp_path, monkeypatch):
    at = open_page(tmp_path, monkeypatch)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Audit"
    assert any("Run audit" in i.value for i in at.info)
    at = run_audit(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    bars = at.get("progress")
    assert bars and "Done: 3 of 3" in bars[0].proto.text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Examples"] == "3 / 3" and metrics["Errors"] == "0"
    specs = [strings_in(spec) for spec in chart_specs(at)]
    assert any("Head patterns" in s for s in specs) and any("Most attributed words" in s for s in specs)
    assert any("Explainer agreement" in s for s in specs) and any("by topic" in s for s in specs)
    downloads = [d.proto.label for d in at.main.get("download_button")]
    assert downloads == ["report.html", "report.json", "results.csv"]
    examples = at.dataframe[-1].value
    assert len(examples) == 3 and set(examples["gold"]) <= {"positive", "negative"}

    # the same settings again: every example from the cache
    at = run_audit(at)
    assert {m.label: m.value for m in at.metric}["From cache"] == "3"


def test_no_methods_still_gives_head_statistics_and_upload_asks_for_a_file(tmp_path, monkeypatch):
    at = run_audit(open_page(tmp_path, monkeypatch), limit=2, methods=())
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("No attribution methods" in i.value for i in at.info)
    assert any("Head patterns" in strings_in(spec) for spec in chart_specs(at))
    at.radio(key="audit_source").set_value("upload").run()
    assert not at.exception and any("Upload a file of up to 20 MB" in i.value for i in at.info)


# ------------------------------------------------------------------ links, session files, guidance, presenter
def open_link(tmp_path, monkeypatch, query: dict) -> AppTest:
    monkeypatch.setenv("ATTNVIZ_CACHE_DIR", str(tmp_path / "cache"))
    return helpers.open_link(query, "audit")


def click_run(at: AppTest) -> AppTest:
    return helpers.click(at, "Run audit")


LINK = {"method": ["saliency", "input_x_gradient"], "n": "3", "steps": "8", "faith": "0", "pair": "topic",
        "slice": ["label", "topic"], "bias": "age", "tab": "Slices"}


def settings_shown(at: AppTest) -> tuple:
    return (at.radio(key="audit_source").value, at.selectbox(key="audit_text_column").value,
            at.selectbox(key="audit_label_column").value, at.selectbox(key="audit_pair_column").value,
            at.multiselect(key="audit_slices").value, at.multiselect(key="audit_methods").value,
            at.number_input(key="audit_limit").value, at.number_input(key="audit_steps").value,
            at.checkbox(key="audit_faithfulness").value, at.multiselect(key="audit_bias_axes").value)


def test_a_link_reopens_the_same_audit_settings(tmp_path, monkeypatch):
    at = open_link(tmp_path, monkeypatch, LINK)
    assert not at.exception and not at.error and not at.warning, [w.value for w in at.warning]
    expected = ("sample", "text", "label", "topic", ["label", "topic"], ["saliency", "input_x_gradient"], 3, 8, False,
                ["age"])
    assert settings_shown(at) == expected
    assert dict(at.query_params) == LINK  # the URL carries exactly the link's settings
    at = click_run(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    result = at.session_state["audit_result"][1]
    assert result.methods == ("saliency", "input_x_gradient") and result.settings["n_steps"] == 8
    assert result.settings["faithfulness"] is False and result.total == 3
    assert result.slice_columns == ("label", "topic") and result.settings["bias_axes"] == ["age"]
    assert [ex.text_pair for ex in result.examples] == ["film", "film", "film"]  # the topic column, as pairs
    assert at.session_state["audit_tab"] == "Slices"
    assert [axis["axis"] for axis in result.bias["axes"]] == ["age"]
    # the link the sidebar offers reopens the same settings in a fresh session
    link = at.sidebar.code[0].value
    assert "n=3" in link and "steps=8" in link and "tab=Slices" in link
    again = open_link(tmp_path, monkeypatch, dict(at.query_params))
    assert not again.exception and not again.warning and settings_shown(again) == expected


def test_the_audit_url_follows_the_widgets_and_an_upload_keeps_its_columns_out(tmp_path, monkeypatch):
    at = open_link(tmp_path, monkeypatch, {})
    assert not at.exception and at.query_params == {}  # all defaults: a bare link
    at.number_input(key="audit_limit").set_value(5)
    at.multiselect(key="audit_methods").set_value(["saliency"])
    at = click_run(at)  # form widgets reach the URL when the form is submitted
    assert at.query_params == {"n": "5", "method": "saliency"}
    at.radio(key="audit_source").set_value("upload").run()
    assert not at.exception and at.query_params == {"data": "upload", "n": "5", "method": "saliency"}
    assert any("cannot travel in a link" in c.value for c in at.caption)
    # an upload's columns never reach a link, even on the way back to the sample set
    csv = b"review,stars,shop\nGreat food.,5,north\nCold fries.,1,south\n"
    at.file_uploader(key="audit_upload").set_value(("mini.csv", csv, "text/csv")).run()
    assert not at.exception and at.selectbox(key="audit_text_column").value == "review"
    assert at.query_params == {"data": "upload", "n": "5", "method": "saliency"}
    at.radio(key="audit_source").set_value("sample").run()
    # (the upload had no label column, so none stays chosen: a valid sample-set choice)
    assert not at.exception and at.query_params == {"n": "5", "method": "saliency", "label": "(none)"}
    assert at.selectbox(key="audit_text_column").value == "text"


def test_tampered_audit_links_are_ignored_with_a_notice(tmp_path, monkeypatch):
    at = open_link(tmp_path, monkeypatch, {
        "n": "0", "steps": "9999", "method": ["saliency", "rm -rf /"], "text": "<b>x</b>", "data": "ftp://x",
        "tab": "Secrets", "faith": "maybe", "bias": ["[a](javascript:alert(1))"], "slice": ["topic", "nope"],
        "label": "(none)"})
    assert not at.exception and not at.error
    warning = " ".join(w.value for w in at.warning)
    for name in ("n", "steps", "method", "text", "data", "tab", "faith", "bias", "slice"):
        assert f"`{name}`" in warning, name
    assert "javascript" not in warning and "<b>" not in warning and "rm -rf" not in warning  # never echoed
    assert settings_shown(at) == ("sample", "text", "(none)", "(none)", ["topic"], ["integrated_gradients"], 100,
                                  16, True, [])  # the valid `label` applies; everything else the defaults
    assert at.session_state["audit_tab"] == "Predictions"


def test_a_session_file_saves_settings_and_report_and_restores_the_settings(tmp_path, monkeypatch):
    import json

    import attnviz.ui
    from attnviz.session import SessionFile

    offered = []
    original = attnviz.ui.offer_session_file
    monkeypatch.setattr(attnviz.ui, "offer_session_file",
                        lambda page, results=None: (offered.append((page, results)), original(page, results)))
    first = click_run(open_link(tmp_path, monkeypatch, LINK))
    assert not first.exception and [b for b in first.sidebar.get("download_button")
                                    if b.label == "Save session (.json)"]
    page, results = offered[-1]
    assert page == "audit" and set(results) == {"audit_report"}
    report = json.loads(results["audit_report"].to_json())  # the page's report.json, aggregates included
    assert report == json.loads(first.session_state["audit_result"][2]["report.json"])
    assert report["settings"]["methods"] == ["saliency", "input_x_gradient"]
    data = SessionFile.build("audit", None, dict(first.query_params),
                             {n: r.to_json() for n, r in results.items()}).to_json().encode()
    assert json.loads(data)["results"]["audit_report"] == report

    at = open_link(tmp_path, monkeypatch, {})
    at.file_uploader(key="session_upload_audit").set_value(("s.json", data, "application/json")).run()
    assert not at.exception and not at.error and at.success and "Session loaded" in at.success[0].value
    assert settings_shown(at) == settings_shown(first)
    at = click_run(at)  # the same settings: every example from the cache
    assert {m.label: m.value for m in at.metric}["From cache"] == "3"

    bad = SessionFile.build("audit", None, {"steps": "1", "text": "nope", "n": "7"})
    at = open_link(tmp_path, monkeypatch, {})
    at.file_uploader(key="session_upload_audit").set_value(("s.json", bad.to_json().encode(),
                                                            "application/json")).run()
    assert not at.exception and not at.error
    assert any("`steps`" in w.value and "`text`" in w.value for w in at.warning)
    assert at.number_input(key="audit_steps").value == 16 and at.number_input(key="audit_limit").value == 7


def test_guidance_for_every_tab_is_shown(tmp_path, monkeypatch):
    from attnviz.guidance import GUIDANCE

    at = click_run(open_link(tmp_path, monkeypatch, {"method": ["saliency"], "n": "2", "faith": "0"}))
    assert not at.exception
    texts = [m.value for e in at.expander if e.label == "What am I looking at?" for m in e.markdown]
    keys = [k for k in GUIDANCE if k.startswith("audit/")]
    assert len(keys) == 7 and all(GUIDANCE[k] in texts for k in keys)


def test_presenter_mode_hides_ig_steps_and_downloads_but_keeps_their_values(tmp_path, monkeypatch):
    at = open_link(tmp_path, monkeypatch, {"presenter": "1", "method": ["integrated_gradients"], "steps": "4",
                                           "n": "2", "faith": "0"})
    assert not at.exception and not at.error
    assert not [n for n in at.number_input if n.key == "audit_steps"]
    at = click_run(at)
    assert not at.exception and not at.error
    assert at.session_state["audit_result"][1].settings["n_steps"] == 4  # the link's value still applies
    assert not at.main.get("download_button") and at.query_params["steps"] == "4"
    # (AppTest's element tree loses the app's sidebar widgets after the audit's run: set the toggle's state)
    at.session_state["attnviz_presenter"] = False
    at.run()
    assert not at.exception and at.number_input(key="audit_steps").value == 4
    assert [d.proto.label for d in at.main.get("download_button")] == ["report.html", "report.json", "results.csv"]
