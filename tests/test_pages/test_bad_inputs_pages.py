"""The bad-input corpus through AppTest on every page: no uncaught exception, a clear st.error for input
that cannot be used, user text never turned into live markdown/HTML, and the session keeps serving (a
normal input afterwards works). Also bad model ids, remote code, pickles, the attention cap and GPU OOM."""

from __future__ import annotations

import json
import re
import shutil

import torch
from streamlit.testing.v1 import AppTest

import attnviz
import attnviz.models.encoding as limits
from attnviz.ui import MODEL_KEY, get_model
from tests.bad_inputs import HOSTILE, MODEL_IDS, REFUSED, TEXTS
from tests.helpers import APP, chart_specs, click, open_page, strings_in

DEFAULT = (attnviz.DEFAULT_MODEL_ID, "auto", "float32")
# one of each kind of trouble, kept short so the pages stay quick
PAGE_TEXTS = ["empty", "whitespace", "only_controls", "control_and_nul", "emoji", "rtl", "combining",
              "markdown_image", "svg_onload", "special_tokens", "over_char_limit"]
_CODE = re.compile(r"(`+)(.+?)\1")
_LIVE = [re.compile(p) for p in (r"(?<!\\)!\[[^\]]*\]\(", r"(?<!\\)\[[^\]]*\]\(\s*javascript", r"(?<!\\)<(script|img|svg|iframe)",
                                 r"(?<!\\):red\[")]


def refused_on_page(name: str) -> bool:
    """Refused texts; the over-long one may instead be cut by the text box's own max_chars."""
    return name in REFUSED and name != "over_char_limit"


def no_crash(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def no_live_markup(at: AppTest) -> None:
    """Every markdown body: user text outside code spans has its markdown/HTML escaped."""
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        for element in getattr(at, kind):
            body = _CODE.sub("", element.value)
            for pattern in _LIVE:
                assert not pattern.search(body), (kind, element.value[:300])


# ------------------------------------------------------------------------- attention
def test_attention_page_survives_the_corpus_and_keeps_serving():
    at = open_page()
    for name in PAGE_TEXTS:
        at.text_area[0].set_value(TEXTS[name])
        at = click(at, "Analyse")
        no_crash(at)
        no_live_markup(at)
        if refused_on_page(name):
            assert at.error and re.search("empty|limit", at.error[0].value), (name, at.error)
        elif name != "over_char_limit":
            assert not at.error, (name, [e.value for e in at.error])
            assert len(at.get("plotly_chart")) == 2, name
    at.text_area[0].set_value("Hedgehogs nap under autumn leaves.")
    at = click(at, "Analyse")
    no_crash(at)
    assert not at.error
    labels = chart_specs(at)[1]["data"][0]["x"]
    assert "leaves" in labels


def test_attention_page_hostile_pair_and_head_view():
    at = open_page()
    at.text_area[0].set_value(HOSTILE)
    next(t for t in at.text_input if t.label.startswith("Second sentence")).set_value(TEXTS["markdown_link"])
    at = click(at, "Analyse")
    at.segmented_control(key="attention_view").set_value("Head view").run()
    no_crash(at)
    assert not at.error
    html = at.get("iframe")[0].proto.srcdoc
    assert "<img src=x" not in html and "<script>alert" not in html  # tokens travel as escaped JSON data


def test_attention_over_the_cap_takes_the_bounded_path_and_a_layer_subset_works(monkeypatch):
    text = "A sentence that is only here to hit a lowered attention cap."
    n = len(get_model(*DEFAULT).encode(text))
    monkeypatch.setattr(limits, "MAX_ATTENTION_VALUES", 2 * 12 * n * n)
    at = open_page()
    at.text_area[0].set_value(text)
    at = click(at, "Analyse")
    no_crash(at)
    # Over the cap the page no longer refuses: it takes the bounded path (summaries, heads on demand).
    assert not at.error
    assert any("attention is summarised while the model runs" in info.value for info in at.info)
    at.multiselect[0].set_value([0, 5])
    at = click(at, "Analyse")
    no_crash(at)
    assert not at.error
    assert at.selectbox(key="attention_layer").options == ["0", "5"]


def test_gpu_out_of_memory_is_a_message_with_a_cpu_retry(monkeypatch):
    """A CUDA OOM inside the model becomes a ResourceError; its button reloads the model on the CPU."""
    shared = get_model(*DEFAULT)
    shared.attention("warm the site map")  # learnt once, before the model is swapped below

    class OutOfMemory(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.config = inner.config

        def forward(self, **_):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(shared, "model", OutOfMemory(shared.model))
    monkeypatch.setattr(shared, "device", torch.device("meta"))  # "a GPU": inputs go there, never run
    at = open_page()
    at.text_area[0].set_value("Out of memory on purpose, once.")
    at = click(at, "Analyse")
    no_crash(at)
    assert at.error and "ran out of memory" in at.error[0].value
    at = click(at, "Retry on the CPU")
    no_crash(at)
    assert at.session_state[MODEL_KEY][1] == "cpu"
    assert not at.error and len(at.get("plotly_chart")) == 2


# ------------------------------------------------------------------------- sidebar: model ids
def test_bad_model_ids_in_the_sidebar_are_messages(tiny_model_dirs, tmp_path, monkeypatch):
    remote = tmp_path / "remote"
    shutil.copytree(tiny_model_dirs["bert"], remote)
    cfg = json.loads((remote / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (remote / "config.json").write_text(json.dumps(cfg))
    marker = tmp_path / "ran.txt"
    (remote / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w')\n")
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model_dirs["bert"], pickled)
    for weights in pickled.glob("*.safetensors"):
        weights.unlink()
    torch.save({"w": torch.zeros(1)}, pickled / "pytorch_model.bin")
    monkeypatch.delenv("ATTNVIZ_TRUST_REMOTE_CODE", raising=False)

    expected = {**{bad: "" for bad in MODEL_IDS if bad != "no/such-model"},  # offline lookups are slow
                "![x](http://evil.example/p.png)": "", str(remote): "ATTNVIZ_TRUST_REMOTE_CODE",
                str(pickled): "safetensors"}
    for bad, needle in expected.items():
        # what the sidebar's "Load model" stores (the form itself is driven in Chromium)
        at = open_page(model_key=(bad, "auto", "float32"))
        no_crash(at)
        no_live_markup(at)
        assert at.error and needle in at.error[0].value, (bad, [e.value for e in at.error])
    assert not marker.exists()
    at = click(at, "Back to the bundled default model")
    no_crash(at)
    assert not at.error and len(at.get("plotly_chart")) == 2


# ------------------------------------------------------------------------- attribution
def test_attribution_page_survives_the_corpus_and_keeps_serving():
    # faithfulness re-runs the model per deletion step: short texts keep this page test quick
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["attention_text"] = "Fine."  # what the page opens on (all default methods run once)
    at.run()
    at.switch_page("pages/attribution.py").run()
    no_crash(at)
    at.multiselect[0].set_value(["saliency"])
    for name in ["empty", "control_and_nul", "script_tag"]:
        at.text_area[0].set_value(TEXTS[name])
        at = click(at, "Explain")
        no_crash(at)
        no_live_markup(at)
        if refused_on_page(name):
            assert at.error and re.search("empty|limit", at.error[0].value), (name, at.error)
        elif name != "over_char_limit":
            assert not at.error, (name, [e.value for e in at.error])
            assert len(at.get("plotly_chart")) >= 1
    # hostile label names and descriptions: shown literally (the explained label is a code span)
    at.text_area[0].set_value("A calm and lovely evening.")
    at.text_area[1].set_value("good` ![x](http://evil.example/p.png) <b>: [a](javascript:alert(1)) | nice\n"
                              "bad` **x** <script>: <script>alert(1)</script> | :red[awful]")
    at = click(at, "Explain")
    no_crash(at)
    no_live_markup(at)
    assert not at.error, [e.value for e in at.error]
    explained = next(m.value for m in at.markdown if m.value.startswith("**Explained:**"))
    assert "``" in explained and "` ![x](" in explained or "` **x** <script>" in explained, explained
    # (the backtick in the label name cannot close the code span: the fence is longer)
    at.text_area[1].set_value("only one: label")
    at = click(at, "Explain")
    no_crash(at)
    assert at.error
    # a similarity target with an empty or hostile reference
    next(r for r in at.radio if r.label == "Explain").set_value("similarity to a sentence")
    at = click(at, "Explain")  # the radio sits in the form: its choice applies on submit
    for reference in ("", HOSTILE):
        next(t for t in at.text_input if t.label == "Reference sentence").set_value(reference)
        at = click(at, "Explain")
        no_crash(at)
        no_live_markup(at)
        assert bool(at.error) == (reference == ""), [e.value for e in at.error]


# ------------------------------------------------------------------------- bias
def test_bias_page_hostile_uploads_and_labels():
    at = open_page("bias")
    hostile_terms = (b"axis,group,term\n"
                     b"x,<script>alert(1)</script>,<img src=x onerror=alert(1)>\n"
                     b"x,![g](http://evil.example/g.png),[t](javascript:alert(2))\n")
    uploader = next(u for u in at.file_uploader if u.label.startswith("Identity terms"))
    uploader.set_value(("terms.csv", hostile_terms, "text/csv"))
    at.run()
    next(s for s in at.selectbox if s.label == "Attribution method").set_value("(none)")
    next(t for t in at.text_input if t.label.startswith("Label whose")).set_value("`<b>positive`")
    at = click(at, "Run probe")
    no_crash(at)
    no_live_markup(at)
    assert at.error and "positive" in at.error[0].value  # no such label: a message
    next(t for t in at.text_input if t.label.startswith("Label whose")).set_value("positive")
    at = click(at, "Run probe")
    no_crash(at)
    no_live_markup(at)
    assert not at.error, [e.value for e in at.error]
    groups = next(d.value for d in at.dataframe if "mean_output" in d.value)
    assert "<script>alert(1)</script>" in set(groups["group"])  # kept as data, escaped when drawn
    for spec in map(strings_in, chart_specs(at)):
        assert "<script>" not in spec and "<img" not in spec
    # malformed and oversized uploads
    for data in (b"\x00\xffbinary", b"axis,group,term\n" + b"x,A,t\n" * 200_000, b'"open,quote\n1,2'):
        uploader = next(u for u in at.file_uploader if u.label.startswith("Identity terms"))
        uploader.set_value(("terms.csv", data, "text/csv"))
        at.run()
        no_crash(at)
        assert at.error, data[:20]


# ------------------------------------------------------------------------- lab
def test_lab_page_text_inputs_survive_the_corpus():
    at = open_page("lab")
    try_key = "lab_try_text_associative_recall"
    for name in ["empty", "control_and_nul", "emoji", "markdown_image", "svg_onload", "over_char_limit"]:
        at.text_input(key=try_key).set_value(TEXTS[name]).run()
        no_crash(at)
        no_live_markup(at)
        if refused_on_page(name):
            assert at.error, name
        at.text_input(key="lab_step_text_lab").set_value(TEXTS[name])
        at = click(at, "Step through")
        no_crash(at)
        no_live_markup(at)
        if refused_on_page(name):
            assert at.error, name
    # malformed checkpoint uploads: a pickle, random bytes, a config that is not JSON
    import pickle

    for weights, config in ((pickle.dumps({"w": 1}), None), (b"\x00" * 64, None), (b"garbage", b"{not json")):
        at.tabs[2].file_uploader(key="lab_upload_weights").set_value(("m.safetensors", weights, "application/octet-stream"))
        if config is not None:
            at.file_uploader(key="lab_upload_config").set_value(("c.json", config, "application/json"))
        at = click(at, "Load")
        no_crash(at)
        assert at.error, weights[:10]
    at.text_input(key=try_key).set_value("a 1 b 2 c 3 ? b").run()
    at.text_input(key="lab_step_text_lab").set_value("a 1 b 2 ? a")
    at = click(at, "Step through")
    no_crash(at)
    assert not at.error and any("Recomputed by hand" in s.value for s in at.success)
