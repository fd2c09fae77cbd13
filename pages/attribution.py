"""Attribution page: what the model looked at (attention) vs what mattered (attributions), side by side,
with how far the methods agree and how faithful each is to the model."""

import json

import pandas as pd
import streamlit as st

from attnviz.attribution import default_methods, method_title
from attnviz.errors import AttnvizError
from attnviz.figures import attribution as cfigs
from attnviz.metrics import AGREEMENT_METRICS
from attnviz.models.targets import (
    DEFAULT_TEMPERATURE,
    SENTIMENT_LABELS,
    ClassTarget,
    MaskedTokenTarget,
    NextTokenTarget,
    SimilarityTarget,
    ZeroShotTarget,
    default_target,
    labels_to_text,
    parse_labels,
)
from attnviz.sharing import StateParam
from attnviz.ui import (
    cached_attribution,
    cached_evaluation,
    cached_target_info,
    current_model,
    current_model_key,
    ensure_entrypoint,
    example_picker,
    guide,
    md_code,
    offer_session_file,
    presenter_mode,
    safe_message,
    share_state,
    show_error,
)

EXAMPLE = "The acting was wonderful, but the plot was painfully slow."
ALL_METHODS = ["shap", "integrated_gradients", "input_x_gradient", "saliency", "gradient_shap", "occlusion",
               "lime", "rollout", "grad_attention"]

ensure_entrypoint()
st.title("Attribution")
st.caption("Which tokens mattered for one number the model computes — several explainers on the same "
           "tokens, how far they agree, and how faithful each is. Attention (rollout, grad × attention) "
           "is shown as one more explainer, not as the explanation.")

handle = current_model()
if handle is None:
    st.stop()
try:
    natural = default_target(handle)
except AttnvizError as exc:
    show_error(exc)
    st.stop()

TARGET_KINDS = ["zero-shot label", "similarity to a sentence"]
class_names = ([str(handle.config.id2label.get(i, i)) for i in range(handle.config.num_labels)]
               if isinstance(natural, ClassTarget) else [])
for widget_key, default in (("attribution_target_kind", TARGET_KINDS[0]),
                            ("attribution_labels", labels_to_text(SENTIMENT_LABELS)),
                            ("attribution_temperature", DEFAULT_TEMPERATURE),
                            ("attribution_reference", "A great film."), ("attribution_class", "(predicted)"),
                            ("attribution_token", ""), ("attribution_methods", list(default_methods())),
                            ("attribution_level", "word")):
    st.session_state.setdefault(widget_key, default)
share_state("attribution", [
    StateParam.text("text", "attribution_page_text", default=EXAMPLE),
    StateParam.choice("explain", "attribution_target_kind", TARGET_KINDS, default=TARGET_KINDS[0]),
    StateParam.text("labels", "attribution_labels", default=labels_to_text(SENTIMENT_LABELS)),
    StateParam.number("tau", "attribution_temperature", 0.005, 1.0, default=DEFAULT_TEMPERATURE),
    StateParam.text("reference", "attribution_reference", default="A great film."),
    StateParam.choice("class", "attribution_class", ["(predicted)"] + class_names, default="(predicted)"),
    StateParam.text("token", "attribution_token", default=""),
    StateParam.choices("method", "attribution_methods", ALL_METHODS, default=list(default_methods())),
    StateParam.choice("units", "attribution_level", ["word", "token"], default="word"),
    StateParam.choice("metric", "agreement_metric", AGREEMENT_METRICS, default=AGREEMENT_METRICS[0]),
])
example_picker("attribution", "attribution_page_text")

with st.form("attribution_input"):
    # A keyed widget keeps what the user typed; the shared "attention_text" carries it across pages.
    st.session_state.setdefault("attribution_page_text", st.session_state.get("attention_text", EXAMPLE))
    text = st.text_area("Text", key="attribution_page_text", height=80,
                        max_chars=20_000)
    pair = None
    target_kind = "zero-shot"
    if isinstance(natural, ZeroShotTarget):
        target_kind = st.radio("Explain", TARGET_KINDS, horizontal=True, key="attribution_target_kind")
    cols = st.columns([3, 1])
    if isinstance(natural, ZeroShotTarget) and target_kind == "zero-shot label":
        label_text = cols[0].text_area(
            "Labels — one per line, `name: description | description`", key="attribution_labels",
            height=90, help="Each label is the mean embedding of its descriptions; p(label | x) is the softmax "
                            "of cosine similarities divided by the temperature.")
        temperature = cols[1].number_input("Temperature τ", 0.005, 1.0, step=0.005, format="%.3f",
                                           key="attribution_temperature")
    elif isinstance(natural, ZeroShotTarget):
        reference = cols[0].text_input("Reference sentence", key="attribution_reference")
    elif isinstance(natural, ClassTarget):
        names = class_names
        chosen_class = cols[0].selectbox("Class", ["(predicted)"] + names, key="attribution_class")
    else:
        token = cols[0].text_input("Token to explain (empty = the top prediction)", key="attribution_token")
    methods = st.multiselect("Methods", ALL_METHODS, format_func=method_title,
                             key="attribution_methods")
    level = st.radio("Units", ["word", "token"], horizontal=True, key="attribution_level",
                     help="Subword scores are summed into words the same way for every method.")
    st.form_submit_button("Explain", type="primary")

st.session_state["attention_text"] = text  # the same input follows the user across pages

try:
    if isinstance(natural, ZeroShotTarget) and target_kind == "zero-shot label":
        target = ZeroShotTarget.from_dict(parse_labels(label_text), temperature=float(temperature))
    elif isinstance(natural, ZeroShotTarget):
        target = SimilarityTarget(reference)
    elif isinstance(natural, ClassTarget):
        target = ClassTarget(None if chosen_class == "(predicted)" else names.index(chosen_class))
    elif isinstance(natural, MaskedTokenTarget):
        target = MaskedTokenTarget(token.strip() or None)
    else:
        target = NextTokenTarget(token.strip() or None)
    if not methods:
        st.info("Choose at least one method.")
        st.stop()
    key = current_model_key()
    info = cached_target_info(key, text, pair, target)
except AttnvizError as exc:
    show_error(exc)
    st.stop()

st.markdown(f"**Explained:** {md_code(info['description'])}")
if info["probabilities"]:
    st.bar_chart(pd.Series(info["probabilities"], name="probability"), height=160, horizontal=True)

attributions, failures = {}, {}
progress = st.progress(0.0, text="Running explainers …")
for i, method in enumerate(methods):
    progress.progress(i / len(methods), text=f"Running {method_title(method)} ({i + 1}/{len(methods)}) …")
    try:
        attributions[method] = cached_attribution(key, text, pair, target, method)
    except AttnvizError as exc:
        failures[method] = str(exc)
progress.empty()
for method, message in failures.items():
    st.warning(f"{method_title(method)}: {safe_message(message)}")
if not attributions:
    st.stop()

shown = {m: (a.to_words() if level == "word" else a) for m, a in attributions.items()}
guide("attribution/scores")
first = next(iter(shown.values()))
st.plotly_chart(cfigs.token_score_rows(first.tokens, {method_title(m): a.scores for m, a in shown.items()},
                                       title="Scores by method (each row scaled to its own max |score|)"),
                width="stretch")

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
if not presenter_mode():
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.subheader("Agreement between methods")
guide("attribution/agreement")
st.caption("Computed on |scores| with special tokens dropped (attention is non-negative, so signed scores are "
           "never compared with it). Top-k metrics after Krishna et al. (2022).")
if len(attributions) > 1:
    metric = st.selectbox("Metric", AGREEMENT_METRICS, key="agreement_metric")
    with st.spinner("Measuring agreement and faithfulness …"):
        try:
            evaluation = cached_evaluation(key, text, pair, target, tuple(attributions), level, attributions)
        except AttnvizError as exc:
            show_error(exc)
            st.stop()
    matrix = evaluation.matrix(metric).rename(index=method_title, columns=method_title)
    st.plotly_chart(cfigs.agreement_heatmap(matrix, title=f"{metric} (k = {evaluation.k})"), width="stretch")
else:
    with st.spinner("Measuring faithfulness …"):
        evaluation = cached_evaluation(key, text, pair, target, tuple(attributions), level, attributions)
    st.info("Choose two or more methods to compare them.")

st.subheader("Faithfulness")
guide("attribution/faithfulness")
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

offer_session_file("attribution", attributions)
if presenter_mode():
    st.stop()
table = pd.concat([a.to_dataframe() for a in shown.values()])
st.download_button("Download scores (CSV)", table.to_csv(index=False), "attributions.csv", "text/csv")
st.download_button("Download attributions (JSON)", json.dumps({m: json.loads(a.to_json()) for m, a in attributions.items()}),
                   "attributions.json", "application/json")
