"""Compare two: the same view for two inputs (a counterfactual pair) or two models, and B − A."""

import streamlit as st

from attnviz import ui
from attnviz.attribution import METHODS, method_title
from attnviz.diff import SCALES, attention_diff, attribution_diff
from attnviz.errors import AttnvizError
from attnviz.figures import attention as afigs
from attnviz.figures import diff as dfigs
from attnviz.sharing import StateParam

EXAMPLE_A, EXAMPLE_B = "He is a nurse.", "She is a nurse."
DEFAULT_METHODS = ["integrated_gradients", "input_x_gradient"]  # fast on both sides
MEAN = "mean"  # the head option for the mean over heads (its value in links: head=mean)
TABS = ["Attention", "Attribution"]
SCALE_KEYS = {True: "compare_scale_one_model", False: "compare_scale_two_models"}
SCALE_DEFAULTS = {True: list(SCALES)[0], False: list(SCALES)[1]}

handle_a = ui.page(
    "compare_two", title="Compare two",
    caption="The same view for two inputs (e.g. a counterfactual pair) or two models, side by side, and their "
            "difference B − A on aligned positions (red: higher in B, blue: higher in A). A change in attention "
            "is not by itself a change in what the model decides: read it next to the attributions.",
    params=lambda handle: [
        StateParam.text("a", "compare_text_a", default=EXAMPLE_A),
        StateParam.text("b", "compare_text_b", default=EXAMPLE_B),
        StateParam.model("model_b", "compare_model_b", default=""),
        StateParam.choice("tab", "compare_tab", TABS, default=TABS[0]),
        StateParam.choice("align", "compare_level", ["token", "word"], default="token"),
        StateParam.integer("layer", "compare_layer", 0, handle.num_layers - 1, default=0),
        StateParam.choice("head", "compare_head", [MEAN, *range(handle.num_heads)], default=MEAN),
        StateParam.choices("method", "compare_methods", METHODS, default=DEFAULT_METHODS),
        StateParam.choice("scale", SCALE_KEYS[True], list(SCALES), default=SCALE_DEFAULTS[True]),
        StateParam.choice("scale_two", SCALE_KEYS[False], list(SCALES), default=SCALE_DEFAULTS[False]),
        StateParam.choice("bars", "compare_bars_method", METHODS, default=DEFAULT_METHODS[0]),
    ],
    keep=SCALE_KEYS.values())  # only one scale radio is drawn per run: keep the other's value
key_a = ui.current_model_key()
ui.comparison_picker("compare", "compare_text_a", "compare_text_b", "compare_tab")

with st.form("compare_input"):
    cols = st.columns(2)
    text_a = cols[0].text_area("Text A", key="compare_text_a", height=80, max_chars=20_000)
    text_b = cols[1].text_area("Text B", key="compare_text_b", height=80, max_chars=20_000)
    model_b = st.text_input(
        "Model B (empty = the sidebar's model)", key="compare_model_b",
        help="A Hugging Face id in the local cache or a local directory (safetensors). Model A is the sidebar's.")
    st.form_submit_button("Compare", type="primary")

key_b = ui.model_b_key(model_b)
same_model = key_b == key_a
try:
    with st.spinner(f"Loading {ui.md_text(key_b[0])} …"):
        handle_b = ui.handle_for(key_b)
    result_a = ui.cached_attention(key_a, text_a, None, None, None)
    result_b = ui.cached_attention(key_b, text_b, None, None, None)
except AttnvizError as exc:
    ui.show_error(exc)
    st.stop()

name_a = f"A ({handle_a.name})" if not same_model else "A"
name_b = f"B ({handle_b.name})" if not same_model else "B"
if same_model:
    st.caption(f"Both sides: {ui.md_code(handle_a.name)}. Tokens are aligned with difflib's SequenceMatcher; a swap of "
               "the same length (he → she) pairs 1:1, other unmatched tokens are gaps.")
else:
    st.caption(f"A: {ui.md_code(handle_a.name)}, B: {ui.md_code(handle_b.name)}. Two models have different tokenizers and heads: "
               "each side's attention is pooled into words (sum over a word's key tokens, mean over its query "
               "tokens) and only the **mean over heads per aligned word** is compared.")

# tracked tabs (rerun on switch): the open tab is in the link; both tabs are still drawn
attention_tab, attribution_tab = st.tabs(TABS, key="compare_tab", on_change="rerun")

with attention_tab:
    level = "word"
    if same_model:
        level = st.radio("Align by", ["token", "word"], horizontal=True, key="compare_level",
                         help="Words: subword tokens pooled into words before aligning.")
    try:
        words_a = ui.cached_words(key_a, text_a) if level == "word" else None
        words_b = ui.cached_words(key_b, text_b) if level == "word" else None
        diff = attention_diff(result_a, result_b, level=level, words_a=words_a, words_b=words_b,
                              name_a=name_a, name_b=name_b)
    except AttnvizError as exc:
        ui.show_error(exc)
        st.stop()
    ui.guide("compare_two/attention")
    head_options = [MEAN] + (list(range(result_a.num_heads)) if diff.per_head else [])
    if not 0 <= st.session_state.get("compare_layer", 0) < len(diff.layer_labels):
        st.session_state["compare_layer"] = 0  # two models: one "mean of all layers" row only
    if st.session_state.get("compare_head", MEAN) not in head_options:
        st.session_state["compare_head"] = MEAN
    controls = st.columns(2)
    layer_pos = controls[0].selectbox("Layer", range(len(diff.layer_labels)), key="compare_layer",
                                      format_func=lambda i: diff.layer_labels[i])
    head_choice = controls[1].selectbox("Head", head_options, key="compare_head",
                                        format_func=lambda h: "mean over heads" if h == MEAN else f"head {h}")
    head = None if head_choice == MEAN else int(head_choice)
    sides = st.columns(2)
    for column, result, name in ((sides[0], result_a, name_a), (sides[1], result_b, name_b)):
        with column:
            if len(diff.layer_labels) == 1 and diff.layer_labels[0].startswith("mean of all"):
                fig = afigs.attention_heatmap(result.attentions.mean(axis=(0, 1)), result.tokens, result.tokens,
                                              title=f"{name}: mean of all layers and heads")
            elif head is None:
                fig = afigs.mean_heads_heatmap(result, layer_pos)
                fig.update_layout(title={"text": f"{name} · " + fig.layout.title.text})
            else:
                fig = afigs.head_heatmap(result, layer_pos, head)
                fig.update_layout(title={"text": f"{name} · " + fig.layout.title.text})
            st.plotly_chart(fig, key=f"compare_side_{name[0]}")
    st.plotly_chart(dfigs.attention_diff_heatmap(diff, layer_pos, head), key="compare_attention_diff")
    st.caption(diff.note)
    st.plotly_chart(dfigs.head_diff_grid(diff), key="compare_head_grid")
    if not ui.presenter_mode():
        st.download_button("Download the attention comparison (JSON)", diff.to_json(), "attention_diff.json",
                           "application/json", key="compare_download_attention")

with attribution_tab:
    ui.guide("compare_two/attribution")
    methods = st.multiselect("Methods", list(METHODS), format_func=method_title, key="compare_methods")
    scale_key = SCALE_KEYS[same_model]
    if ui.presenter_mode():  # an advanced control: the link's (or the default) scale still applies
        scale = st.session_state[scale_key]
    else:
        scale = st.radio("Scale", list(SCALES), horizontal=True, key=scale_key, format_func=lambda s: SCALES[s],
                         help="Two models (or two different targets) explain different numbers: compare shapes.")
    if not methods:
        st.info("Choose at least one method.")
        ui.offer_session_file("compare_two", {"attention_diff": diff})
        st.stop()
    try:
        target = ui.cached_shared_target(key_a, text_a) if same_model else None
        attrs_a, attrs_b = {}, {}
        with st.spinner("Running explainers on A and B …"):
            for method in methods:
                attrs_a[method] = ui.cached_attribution(key_a, text_a, None, target, method)
                attrs_b[method] = ui.cached_attribution(key_b, text_b, None, target, method)
        adiff = attribution_diff(attrs_a, attrs_b, level="auto" if same_model else "word", scale=scale,
                                 name_a=name_a, name_b=name_b)
    except AttnvizError as exc:
        ui.show_error(exc)
        st.stop()
    first = methods[0]
    st.markdown(f"**Explained** — A: `{attrs_a[first].target}` = {attrs_a[first].output:.4g} · "
                f"B: `{attrs_b[first].target}` = {attrs_b[first].output:.4g}")
    if same_model:
        st.caption("Both sides explain the label predicted for A, so the scores answer the same question.")
    st.plotly_chart(dfigs.attribution_diff_heatmap(adiff), key="compare_attribution_diff")
    if st.session_state.get("compare_bars_method") not in adiff.methods:
        st.session_state["compare_bars_method"] = adiff.methods[0]
    shown = st.selectbox("Method, side by side", list(adiff.methods), key="compare_bars_method",
                         format_func=method_title)
    st.plotly_chart(dfigs.attribution_diff_bars(adiff, shown), key="compare_attribution_bars")
    st.caption(adiff.note)
    if not ui.presenter_mode():
        st.download_button("Download the attribution comparison (CSV)", adiff.to_dataframe().to_csv(index=False),
                           "attribution_diff.csv", "text/csv", key="compare_download_attribution")

ui.offer_session_file("compare_two", {"attention_diff": diff, "attribution_diff": adiff})
