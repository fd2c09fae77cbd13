"""Audit page: a whole dataset through the model — predictions, attributions, head statistics — with
aggregate views and a report (HTML, JSON, CSV) to download."""

import hashlib
import re

import streamlit as st

from attnviz import ui
from attnviz.attribution import METHODS, method_title
from attnviz.audit import SAMPLE_SETS, AuditSettings, aggregate, prepare_dataset
from attnviz.audit.dataset import MAX_BYTES, guess_text_column
from attnviz.audit.report import build_figures, report_bytes, slice_figure_name
from attnviz.errors import AttnvizError
from attnviz.sharing import StateParam
from attnviz.ui.audit_folder import show_audit_folder

NONE = "(none)"
RESULT_KEY = "audit_result"  # session_state: (run key, AuditResult, {file: bytes} or None)
CANCELLED_KEY = "audit_cancelled"
BIAS_AXES = ["gender", "ethnicity", "religion", "age", "disability", "nationality", "sexual orientation"]
SOURCES = {"sample": "Sample set (reviews)", "upload": "Upload a file", "folder": "A CLI run (folder)"}
TABS = ["Predictions", "Heads", "Top words", "Agreement & faithfulness", "Slices", "Bias probe", "Examples"]
SAMPLE = SAMPLE_SETS["reviews"]


class ReportJson:
    """report.json's bytes as a session-file result (``offer_session_file`` wants ``to_json()``)."""

    def __init__(self, data: bytes):
        self.data = data

    def to_json(self) -> str:
        return self.data.decode("utf-8")


def plain(text) -> str:
    """User text (file and column names) shown literally in markdown: every markdown character escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", str(text))


def mark_cancelled() -> None:
    """Cancel's callback: runs before the rerun the click causes (which stops the running audit)."""
    st.session_state[CANCELLED_KEY] = True


def audit_params(_handle) -> list[StateParam]:
    """The link's settings. The sample set's columns travel too (an upload's mean nothing without the file):
    every value is kept while its widget is not drawn (an upload still missing, presenter mode)."""
    sample_columns = list(ui.cached_read_table(SAMPLE.read_bytes(), SAMPLE.name).columns)
    params = [
        StateParam.choice("data", "audit_source", list(SOURCES), default="sample"),
        StateParam.choices("method", "audit_methods", METHODS, default=["integrated_gradients"]),
        StateParam.integer("n", "audit_limit", 1, 100_000, default=100),
        StateParam.integer("steps", "audit_steps", 2, 200, default=16),
        StateParam.boolean("faith", "audit_faithfulness", default=True),
        StateParam.choices("bias", "audit_bias_axes", BIAS_AXES, default=[]),
        StateParam.choice("tab", "audit_tab", TABS, default=TABS[0]),
    ]
    columns = [
        StateParam.choice("text", "audit_text_column", sample_columns, default="text"),
        StateParam.choice("label", "audit_label_column", [NONE, *sample_columns], default="label"),
        StateParam.choice("pair", "audit_pair_column", [NONE, *sample_columns], default=NONE),
        StateParam.choices("slice", "audit_slices", sample_columns, default=["topic"]),
    ]
    ui.seed(params + columns, keep=True)
    if st.session_state["audit_source"] != "sample":
        return params
    for column in columns[:3]:
        if st.session_state[column.key] not in [NONE, *sample_columns]:  # kept from an upload: not in a link
            st.session_state[column.key] = column.default
    st.session_state["audit_slices"] = [c for c in st.session_state["audit_slices"] if c in sample_columns]
    return params + columns


handle = ui.page(
    "audit", title="Audit", params=audit_params,
    caption="Run a whole dataset through the model: the prediction, attributions, attention summaries and head "
            "statistics of every example, then views over all of them and a report someone else can check "
            "(HTML that opens offline, JSON with provenance, CSV). Finished examples are cached: a re-run with "
            "the same settings is instant, and a cancelled run resumes where it stopped.")

source = st.radio("Data", list(SOURCES), horizontal=True, key="audit_source", format_func=SOURCES.get)
if source == "folder":  # a run of `python -m attnviz audit` in a folder the operator lists: progress, report
    show_audit_folder()
    st.stop()
if source == "upload":
    st.caption("An uploaded file cannot travel in a link: the link (sidebar) and session files carry the "
               "methods and settings only — send the file along with them.")
    upload = st.file_uploader("CSV, JSON Lines or Parquet (one example per row)",
                              type=["csv", "tsv", "jsonl", "ndjson", "json", "parquet"], key="audit_upload")
    if upload is None:
        st.info(f"Upload a file of up to {MAX_BYTES // 2**20} MB with a text column (optional: label, a "
                "second text, columns to slice by).")
        ui.offer_session_file("audit")
        st.stop()
    data, filename = upload.getvalue(), upload.name
else:
    data, filename = SAMPLE.read_bytes(), SAMPLE.name

try:
    table = ui.cached_read_table(data, filename)
    guessed = guess_text_column(table)
except AttnvizError as exc:
    ui.show_error(exc)
    st.stop()

columns = list(table.columns)
# columns kept from another file (or the sample set) that this table lacks fall back to its own guesses
if st.session_state["audit_text_column"] not in columns:
    st.session_state["audit_text_column"] = guessed
if st.session_state["audit_label_column"] not in [NONE, *columns]:
    st.session_state["audit_label_column"] = "label" if "label" in columns else NONE
if st.session_state["audit_pair_column"] not in [NONE, *columns]:
    st.session_state["audit_pair_column"] = NONE
st.session_state["audit_slices"] = [c for c in st.session_state["audit_slices"]
                                    if c in columns and c != st.session_state["audit_text_column"]]
st.caption(f"**{plain(filename)}** · {len(table):,} rows · columns: {', '.join(plain(c) for c in columns)}")
with st.expander("Preview", expanded=False):
    st.dataframe(table.head(10), hide_index=True, width="stretch")

with st.form("audit_settings"):
    c1, c2, c3 = st.columns(3)
    text_column = c1.selectbox("Text column", columns, key="audit_text_column")
    label_column = c2.selectbox("Label column (gold labels)", [NONE, *columns], key="audit_label_column")
    pair_column = c3.selectbox("Second text (sentence pairs)", [NONE, *columns], key="audit_pair_column")
    slice_columns = st.multiselect("Slice by", [c for c in columns if c != text_column], key="audit_slices")
    methods = st.multiselect("Attribution methods", list(METHODS), key="audit_methods", format_func=method_title,
                             help="Integrated Gradients, saliency and input × gradient run batched; the others "
                                  "one example at a time (slower).")
    c4, c5, c6 = st.columns(3)
    limit = c4.number_input("Examples (first N rows)", 1, 100_000, key="audit_limit")
    if ui.presenter_mode():  # an advanced control: the link's (or the default) value still applies
        n_steps = st.session_state["audit_steps"]
    else:
        n_steps = c5.number_input("Integrated Gradients steps", 2, 200, key="audit_steps")
    faithfulness = c6.checkbox("Measure faithfulness", key="audit_faithfulness",
                               help="ERASER comprehensiveness/sufficiency and deletion/insertion per example "
                                    "(re-runs the model on inputs with words deleted).")
    bias_axes = st.multiselect("Bias probe axes (optional)", BIAS_AXES, key="audit_bias_axes",
                               help="Counterfactual identity-term swaps in the shipped templates on the same "
                                    "target (see the Bias probes page); the report gets the gap per axis.")
    run = st.form_submit_button("Run audit", type="primary")

try:
    dataset = prepare_dataset(table, text_column=text_column, label_column=None if label_column == NONE else label_column,
                              pair_column=None if pair_column == NONE else pair_column,
                              slice_columns=slice_columns, limit=int(limit), source=filename,
                              sha256=hashlib.sha256(data).hexdigest())
    settings = AuditSettings(methods=tuple(methods), n_steps=int(n_steps), faithfulness=faithfulness,
                             bias_axes=tuple(bias_axes))
except AttnvizError as exc:
    ui.show_error(exc)
    st.stop()

key = ui.current_model_key()
run_key = (key, dataset.sha256, text_column, label_column, pair_column, tuple(slice_columns), int(limit),
           tuple(methods), int(n_steps), faithfulness, tuple(bias_axes))
stored = st.session_state.get(RESULT_KEY)
if st.session_state.pop(CANCELLED_KEY, False) and not run:
    st.warning("Audit cancelled. The examples that finished are cached: press **Run audit** to resume.")
if run:
    st.button("Cancel", on_click=mark_cancelled,
              help="Stops after the current batch; finished examples stay cached, so Run resumes.")
    try:
        result = ui.run_audit_with_progress(key, dataset, settings)
    except AttnvizError as exc:
        ui.show_error(exc)
        st.stop()
    stored = (run_key, result, None)
    st.session_state[RESULT_KEY] = stored
elif stored is None or stored[0] != run_key:
    if stored is not None:
        st.info("The settings changed since the last run: press **Run audit** (finished examples come from the "
                "cache).")
    else:
        st.info("Choose the columns and methods, then press **Run audit**.")
    ui.offer_session_file("audit")
    st.stop()

_, result, files = stored
if result.cancelled:
    st.warning(f"Cancelled after {len(result.examples)} of {result.total} examples: press Run audit to resume.")
summary = aggregate.summary(result)
acc = aggregate.accuracy(result)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Examples", f"{summary['ok']} / {result.total}")
m2.metric("Accuracy", "n/a" if acc["accuracy"] is None else f"{acc['accuracy']:.1%}")
m3.metric("Errors", summary["errors"])
m4.metric("From cache", summary["cache_hits"])
for note in [*dataset.notes, acc["note"]]:
    if note:
        st.caption(ui.md_text(note))  # the accuracy note quotes the file's gold labels: literal text only
errors = [ex for ex in result.examples if ex.status == "error"]
if errors:
    with st.expander(f"{len(errors)} example(s) failed"):
        st.dataframe([{"row": ex.index, "error": ex.error} for ex in errors], hide_index=True)

figs = build_figures(result)
# tracked tabs (rerun on switch): the open tab is in the link; every tab is still drawn
tabs = st.tabs(TABS, key="audit_tab", on_change="rerun")
with tabs[0]:
    ui.guide("audit/predictions")
    st.plotly_chart(figs["outputs"], width="stretch")
    if "confusion" in figs:
        st.plotly_chart(figs["confusion"], width="stretch")
with tabs[1]:
    ui.guide("audit/heads")
    st.caption("Clark et al. (2019) statistics averaged over the examples. Cell text: the share of examples in "
               "which the head shows that pattern.")
    for name in ("head_patterns", "head_special", "head_entropy"):
        st.plotly_chart(figs[name], width="stretch")
with tabs[2]:
    ui.guide("audit/top_words")
    shown = [n for n in figs if n.startswith("top_tokens_")]
    for name in shown:
        st.plotly_chart(figs[name], width="stretch")
    if not shown:
        st.info("No attribution methods were chosen.")
with tabs[3]:
    ui.guide("audit/agreement")
    for name in ("agreement", "faithfulness"):
        if name in figs:
            st.plotly_chart(figs[name], width="stretch")
    faith = aggregate.faithfulness_summary(result)
    if not faith.empty:
        st.dataframe(faith.round(4), hide_index=True, width="stretch")
    if "agreement" not in figs and "faithfulness" not in figs:
        st.info("Choose two or more methods for agreement, or turn on faithfulness.")
with tabs[4]:
    ui.guide("audit/slices")
    if result.slice_columns:
        column = st.selectbox("Slice column", list(result.slice_columns))
        st.plotly_chart(figs[slice_figure_name(column)], width="stretch")
        st.dataframe(aggregate.slices(result, column).round(4), hide_index=True, width="stretch")
    else:
        st.info("Choose columns under *Slice by* to break the results down.")
with tabs[5]:
    ui.guide("audit/bias")
    if result.bias:
        st.caption(f"{result.bias['sentences']} template sentences · {ui.md_text(result.bias['target'])}")
        st.plotly_chart(figs["bias"], width="stretch")
        st.dataframe(aggregate.bias_axes(result).round(4), hide_index=True, width="stretch")
    else:
        st.info("Choose *Bias probe axes* to add a counterfactual identity-swap probe to the audit.")
with tabs[6]:
    ui.guide("audit/examples")
    st.dataframe(result.to_dataframe(), hide_index=True, width="stretch")

if files is None:
    with st.spinner("Building the report …"):
        files = report_bytes(result)
    st.session_state[RESULT_KEY] = (run_key, result, files)
ui.offer_session_file("audit", {"audit_report": ReportJson(files["report.json"])})
if ui.presenter_mode():  # downloads are advanced controls
    st.stop()
st.subheader("Report")
d1, d2, d3 = st.columns(3)
d1.download_button("report.html", files["report.html"], "report.html", "text/html",
                   help="Standalone: opens offline, figures interactive.")
d2.download_button("report.json", files["report.json"], "report.json", "application/json",
                   help="Provenance (model weights hash, versions, device, seeds, settings, time) and every result.")
d3.download_button("results.csv", files["results.csv"], "results.csv", "text/csv")
st.caption("PNG and SVG figures: `python -m attnviz audit --data FILE --out DIR` writes them to DIR/figures "
           "(or use the camera icon on each figure).")
