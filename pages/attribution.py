"""Attribution page: what the model looked at (attention) vs what mattered (attributions), side by side,
with how far the methods agree and how faithful each is to the model."""

import json

import pandas as pd
import streamlit as st

from attnviz import ui
from attnviz.attribution import METHODS, default_methods, method_title
from attnviz.errors import AttnvizError
from attnviz.figures import attribution as cfigs
from attnviz.guidance import method_guidance
from attnviz.metrics import AGREEMENT_METRICS
from attnviz.sharing import StateParam
from attnviz.ui import images as image_ui

EXAMPLE = "The acting was wonderful, but the plot was painfully slow."
TARGET_FORM = ui.TargetForm(
    kinds={"zero-shot": "zero-shot label", "similarity": "similarity to a sentence"}, kind_label="Explain",
    labels_label="Labels — one per line, `name: description | description`",
    labels_help="Each label is the mean embedding of its descriptions; p(label | x) is the softmax of cosine "
                "similarities divided by the temperature.",
    reference_label="Reference sentence", reference_default="A great film.",
    class_label="Class", predicted="(predicted)", token_label="Token to explain (empty = the top prediction)")

if image_ui.image_model_chosen():  # an image classifier: patch maps on a picture instead of a text
    image_ui.attribution_page()
    st.stop()

handle = ui.page(
    "attribution", title="Attribution", shared_text="attribution_page_text",
    caption="Which tokens mattered for one number the model computes — several explainers on the same tokens, "
            "how far they agree, and how faithful each is. Attention (rollout, grad × attention) is shown as "
            "one more explainer, not as the explanation.",
    params=lambda handle: [
        StateParam.text("text", "attribution_page_text", default=EXAMPLE),
        *ui.target_params(handle, "attribution", TARGET_FORM),
        StateParam.choices("method", "attribution_methods", METHODS, default=default_methods()),
        StateParam.choice("units", "attribution_level", ["word", "token"], default="word"),
        StateParam.choice("metric", "agreement_metric", AGREEMENT_METRICS, default=AGREEMENT_METRICS[0]),
    ])
ui.example_picker("attribution", "attribution_page_text")

with st.form("attribution_input"):
    text = st.text_area("Text", key="attribution_page_text", height=80, max_chars=20_000)
    pair = None
    choice = ui.target_form(handle, "attribution", TARGET_FORM)
    methods = st.multiselect("Methods", list(METHODS), format_func=method_title, key="attribution_methods")
    level = st.radio("Units", ["word", "token"], horizontal=True, key="attribution_level",
                     help="Subword scores are summed into words the same way for every method.")
    chat = ui.chat_template_option(handle, "attribution_chat", "are scored too and marked special")
    st.form_submit_button("Explain", type="primary")

try:
    target = choice.build()
    if not methods:
        st.info("Choose at least one method.")
        st.stop()
    key = ui.current_model_key()
    info = ui.cached_target_info(key, text, pair, target, chat)
except AttnvizError as exc:
    ui.show_error(exc)
    st.stop()

st.markdown(f"**Explained:** {ui.md_code(info['description'])}")
if info["probabilities"]:
    st.bar_chart(pd.Series(info["probabilities"], name="probability"), height=160, horizontal=True)

attributions, failures = {}, {}
progress = st.progress(0.0, text="Running explainers …")
for i, method in enumerate(methods):
    progress.progress(i / len(methods), text=f"Running {method_title(method)} ({i + 1}/{len(methods)}) …")
    try:
        attributions[method] = ui.cached_attribution(key, text, pair, target, method, chat)
    except AttnvizError as exc:
        failures[method] = str(exc)
progress.empty()
for method, message in failures.items():
    st.warning(f"{method_title(method)}: {ui.safe_message(message)}")
if not attributions:
    st.stop()

shown = {m: (a.to_words() if level == "word" else a) for m, a in attributions.items()}
ui.guide("attribution/scores")
about = {method_title(m): method_guidance(m) for m in shown if method_guidance(m)}
if about:
    with st.expander("About these methods", icon=":material/menu_book:"):
        for title, paragraph in about.items():
            st.markdown(f"**{title}.** {paragraph}")
first = next(iter(shown.values()))
st.plotly_chart(cfigs.token_score_rows(first.tokens, {method_title(m): a.scores for m, a in shown.items()},
                                       title="Scores by method (each row scaled to its own max |score|)"),
                width="stretch")
ui.exercise_panel("attribution", handle, text=text, method=next(iter(attributions)), target=choice)

rows = []
for m, a in attributions.items():
    check = ""
    if a.base_value is not None:
        check = f"base {a.base_value:.4f} + Σφ {a.scores.sum():.4f} = {a.base_value + a.scores.sum():.4f}"
    elif a.delta is not None:
        check = f"completeness gap {a.delta:.2e}"
    rows.append({"method": method_title(m), "f(x)": round(a.output, 5), "check": check,
                 "seconds": a.settings.get("seconds"), "settings": json.dumps(
                     {k: v for k, v in a.settings.items() if k != "seconds"}, default=str)})
if not ui.presenter_mode():
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.subheader("Agreement between methods")
ui.guide("attribution/agreement")
st.caption("Computed on |scores| with special tokens dropped (attention is non-negative, so signed scores are "
           "never compared with it). Top-k metrics after Krishna et al. (2022).")
if len(attributions) > 1:
    metric = st.selectbox("Metric", AGREEMENT_METRICS, key="agreement_metric")
    with st.spinner("Measuring agreement and faithfulness …"):
        try:
            evaluation = ui.cached_evaluation(key, text, pair, target, tuple(attributions), level, attributions, chat)
        except AttnvizError as exc:
            ui.show_error(exc)
            st.stop()
    matrix = evaluation.matrix(metric).rename(index=method_title, columns=method_title)
    st.plotly_chart(cfigs.agreement_heatmap(matrix, title=f"{metric} (k = {evaluation.k})"), width="stretch")
else:
    with st.spinner("Measuring faithfulness …"):
        evaluation = ui.cached_evaluation(key, text, pair, target, tuple(attributions), level, attributions, chat)
    st.info("Choose two or more methods to compare them.")

st.subheader("Faithfulness")
ui.guide("attribution/faithfulness")
st.caption("Delete the top-ranked units (by positive score) and re-run the model. Comprehensiveness: drop in "
           "f when the top k% are removed (higher = more faithful); sufficiency: drop when only they are kept "
           "(lower = better); AOPC = mean over k ∈ {1, 5, 10, 20, 50}%. Grey: a random ranking (10 draws).")
st.dataframe(evaluation.summary().round(4), hide_index=True, width="stretch")
st.plotly_chart(cfigs.faithfulness_bars(
    {method_title(m): {**evaluation.eraser[m], **evaluation.curves[m]} for m in evaluation.eraser},
    baseline={"mean": {**evaluation.random_eraser["mean"], **evaluation.random_curves["mean"]},
              "std": {**evaluation.random_eraser["std"], **evaluation.random_curves["std"]}}), width="stretch")
st.plotly_chart(cfigs.faithfulness_curves({method_title(m): c for m, c in evaluation.curves.items()},
                                          baseline=evaluation.random_curves), width="stretch")

ui.offer_session_file("attribution", attributions)
if ui.presenter_mode():
    st.stop()
table = pd.concat([a.to_dataframe() for a in shown.values()])
st.download_button("Download scores (CSV)", table.to_csv(index=False), "attributions.csv", "text/csv")
st.download_button("Download attributions (JSON)", json.dumps({m: json.loads(a.to_json()) for m, a in attributions.items()}),
                   "attributions.json", "application/json")
