"""Bias probes page: counterfactual identity-term swaps (with where in the model the difference arises),
embedding association tests (WEAT/SEAT) and CrowS-style sentence pairs for language models."""

import json

import pandas as pd
import streamlit as st

import attnviz.bias as bias
from attnviz import ui
from attnviz.attribution import batched_methods, method_title
from attnviz.bias import assets
from attnviz.bias.counterfactual import default_templates, fill_mode
from attnviz.bias.mlm import SCORINGS, scoring_for
from attnviz.errors import AttnvizError, InputError
from attnviz.figures import bias as bfigs
from attnviz.models.targets import default_target
from attnviz.sharing import StateParam

PROBES = {
    "counterfactual": "Counterfactual swaps",
    "weat": "Embedding association (WEAT / SEAT)",
    "pairs": "Sentence pairs (CrowS-style)",
}
DEFAULT_AXES = ["gender", "ethnicity", "religion"]
UNITS = {
    "word": "words",
    "seat-word": "SEAT sentences, averaged per word (recommended)",
    "seat-sentence": "SEAT sentences, each a unit (original SEAT; overstates significance)",
}

NONE = "(none)"  # the method option for no attribution
TARGET_FORM = ui.TargetForm(
    kinds={"zero-shot": "zero-shot label probability", "similarity": "similarity to a sentence"},
    kind_label="f(x)", labels_label="Zero-shot labels — one per line, `name: description | description`",
    label_label="Label whose probability is f", label_default="positive",
    reference_label="Reference sentence (similarity)", reference_default="A great person.",
    class_label="Class whose probability is f", predicted="(each template's prediction)", predicted_first=False,
    token_label="Token whose probability is f (empty = each template's top prediction)", every_field=True)
# input × gradient: one forward and backward per batch, the fastest batched method
DEFAULT_METHOD = "input_x_gradient" if "input_x_gradient" in batched_methods() else batched_methods()[0]

handle = ui.page(
    "bias", title="Bias probes",
    caption="Does the model treat identity terms differently, and where does that happen? Swap identity terms in "
            "templates and measure the change in the model's output, how much attribution and attention the term "
            "gets; test embedding associations (WEAT/SEAT); compare sentence pairs with a language model. "
            "The shipped lists and templates contain identity terms and stereotypes, written to probe models.",
    params=[
        StateParam.choice("probe", "bias_probe", PROBES, default="counterfactual"),
        StateParam.choice("method", "bias_method", [*batched_methods(), NONE], default=DEFAULT_METHOD),
        StateParam.integer("steps", "bias_steps", 4, 200, default=16),
        StateParam.boolean("attention", "bias_attention", default=True),
        StateParam.choice("units", "bias_units", UNITS, default=list(UNITS)[0]),
    ])
key = ui.current_model_key()
probe = st.radio("Probe", list(PROBES), format_func=PROBES.get, horizontal=True, key="bias_probe")


# ------------------------------------------------------------------ caches
@st.cache_data(max_entries=16, show_spinner=False)
def cached_measure(model_key, fills: pd.DataFrame, target, method: str | None, n_steps: int, attention: bool) -> dict:
    """f, attribution share and attention mass for every sentence; the progress bar is created here so that
    a cache hit replays it (and its removal) instead of touching an element outside the cached call."""
    bar = st.progress(0.0, text=f"Running {len(fills)} sentences …")
    with ui.heavy_job("bias probe"):
        out = bias.measure(ui.handle_for(model_key), fills, target, method=method, attention=attention,
                           n_steps=n_steps, progress=lambda fraction, message: bar.progress(min(1.0, fraction),
                                                                                            text=message))
    bar.empty()
    return out


@st.cache_data(max_entries=16, show_spinner=False)
def cached_result(model_key, fills: pd.DataFrame, target, method: str | None, n_steps: int,
                  attention: bool, mode: str) -> bias.CounterfactualResult:
    measured = cached_measure(model_key, fills, target, method, n_steps, attention)
    attribution = None
    if "attribution_share" in measured:
        attribution = pd.DataFrame({k: measured[k] for k in ("attribution_share", "attribution_uniform")})
    return bias.summarise(fills, measured["output"], labels=measured["label"], attribution=attribution,
                          attention=measured.get("attention"), attention_uniform=measured.get("attention_uniform"),
                          target=measured["target"], method=method if attribution is not None else None,
                          model_name=model_key[0], settings={"is_probability": measured["is_probability"],
                                                             "mode": mode, "n_steps": n_steps})


@st.cache_data(max_entries=64, show_spinner=False)
def cached_weat(model_key, test: str, lists: tuple, names: tuple, templates: tuple, aggregate: str,
                n_samples: int, seed: int) -> bias.WeatResult:
    with ui.heavy_job("bias test"):
        return bias.weat(ui.handle_for(model_key), *lists, templates=templates or None, aggregate=aggregate,
                         n_samples=n_samples, seed=seed, names=names, test=test)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_pairs(model_key, pairs: pd.DataFrame) -> bias.PairsResult:
    with ui.heavy_job("bias probe"):
        return bias.compare_pairs(ui.handle_for(model_key), pairs)


def uploaded_table(label: str, kind: str, default: pd.DataFrame, key: str) -> pd.DataFrame:
    """The uploaded CSV of ``kind`` if it validates, otherwise (with the reason shown) ``default``."""
    file = st.file_uploader(label, type=["csv"], key=key,
                            help=f"UTF-8 CSV, at most {assets.MAX_UPLOAD_BYTES // 1_000_000} MB; "
                                 f"columns: {', '.join(assets.KINDS[kind].required)}.")
    if file is None:
        return default
    try:
        return bias.read_csv(file.getvalue(), kind)
    except AttnvizError as exc:
        ui.show_error(exc)
        st.caption("Using the shipped table instead.")
        return default


def fmt_table(frame: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Round for reading; p-values keep their digits (a rounded 1e-5 would read as 0)."""
    keep = [c for c in frame.columns if str(c).startswith("p_")]
    return frame.round({c: digits for c in frame.select_dtypes("number").columns if c not in keep})


P_FORMAT = {"p_value": st.column_config.NumberColumn("p_value", format="%.2g"),
            "p_holm": st.column_config.NumberColumn("p_holm", format="%.2g")}


# ========================================================== counterfactual
def counterfactual_section():
    ui.guide("bias/counterfactual")
    try:
        natural = default_target(handle)
    except AttnvizError as exc:
        ui.show_error(exc)
        return
    mode = fill_mode(natural)
    kind = "templates" if mode == "sentence" else "masked_templates"
    with st.expander("Upload your own identity terms or templates (CSV)", expanded=False):
        st.caption("Templates carry one `{identity}` slot" + (" and one `{mask}` where the predicted word goes "
                   "(causal LMs read the template up to `{mask}`)" if mode != "sentence" else "") +
                   "; terms are grouped into groups within axes. Swaps are between terms of different groups. "
                   "Sources and licences of the shipped lists: `assets/bias/README.md`.")
        up1, up2 = st.columns(2)
        with up1:
            terms_base = uploaded_table("Identity terms CSV (axis, group, term)", "terms", assets.load("terms"),
                                        "bias_terms_upload")
        with up2:
            templates_base = uploaded_table(f"Templates CSV (template, polarity){' with {mask}' if mode != 'sentence' else ''}",
                                            kind, default_templates(mode), "bias_templates_upload")

    with st.form("counterfactual_settings"):
        all_axes = list(dict.fromkeys(terms_base["axis"]))
        axes = st.multiselect("Axes", all_axes, default=[a for a in DEFAULT_AXES if a in all_axes] or all_axes[:2])
        choice = ui.target_form(handle, "bias", TARGET_FORM)
        c1, c2, c3 = st.columns(3)
        method = c1.selectbox("Attribution method", [*batched_methods(), NONE], format_func=method_title,
                              key="bias_method")
        n_steps = c2.number_input("IG steps", 4, 200, step=4, help="Integrated Gradients only.", key="bias_steps")
        with_attention = c3.checkbox("Attention on the identity term", key="bias_attention")
        with st.expander(f"Edit the {len(terms_base)} identity terms and {len(templates_base)} templates"):
            st.caption("Add rows at the bottom of a table; edits apply when you run the probe.")
            terms_edit = st.data_editor(terms_base, num_rows="dynamic", width="stretch", height=240)
            templates_edit = st.data_editor(templates_base, num_rows="dynamic", width="stretch", height=240)
        st.form_submit_button("Run probe", type="primary")

    try:
        target = choice.build()
        terms = assets.validate(terms_edit, "terms")
        templates = assets.validate(templates_edit, kind)
        fills = bias.fill_templates(templates, terms, axes=axes, mode=mode, mask_token=handle.tokenizer.mask_token)
    except AttnvizError as exc:
        ui.show_error(exc)
        return

    try:
        result = cached_result(key, fills, target, method if method in batched_methods() else None, int(n_steps),
                               with_attention, mode)
    except AttnvizError as exc:
        ui.show_error(exc)
        return
    attributed, attended = result.method is not None, result.attention is not None

    st.markdown(f"**f(x):** {ui.md_code(result.target)} · {len(fills)} sentences · {result.gaps['template_id'].nunique()} "
                f"templates · {len(result.swaps)} swaps")
    st.subheader("Counterfactual token fairness gap per axis")
    st.caption("CTF gap (Garg et al. 2019): mean over sentences x of the mean |f(x) − f(x′)| over swaps x′ to terms "
               "of other groups; averaged over templates, with a bootstrap 95% interval over templates (seed 0). "
               "0 = the term never changes f.")
    st.dataframe(fmt_table(result.axes), hide_index=True, width="stretch")
    polarity = result.by_polarity()
    if polarity.shape[1] > 1:
        st.caption("Mean gap by template polarity (toxic/negative and non-toxic templates can differ legitimately).")
        st.dataframe(fmt_table(polarity), width="stretch")

    st.subheader("Largest gaps")
    shown = [c for c in ("text_a", "text_b", "f_a", "f_b", "gap", "attribution_share_a", "attribution_share_b",
                         "attention_mean_a", "attention_mean_b") if c in result.swaps]
    st.dataframe(fmt_table(result.flagged()[shown]), hide_index=True, width="stretch")

    value = st.radio("Group means of", ["deviation", "output"], horizontal=True,
                     format_func={"deviation": "f − template mean (template effects removed)",
                                  "output": "f itself"}.get)
    st.plotly_chart(bfigs.group_means(result, value=value), width="stretch")
    st.plotly_chart(bfigs.gap_distribution(result), width="stretch")

    st.subheader("Where it happens")
    if attributed or attended:
        st.caption("Attribution share: Σ|φ| on the term's tokens ÷ Σ|φ| on all non-special tokens; attention mass: "
                   "mean over non-special queries of the weight on the term's tokens. Both are divided by what a "
                   "uniform spread would give (|T| / n), so 1 means no special focus on the term.")
        st.plotly_chart(bfigs.identity_share(result), width="stretch")
    if attended:
        c1, c2 = st.columns([2, 1])
        axis = c1.selectbox("Axis for the heads × groups map", list(result.axes["axis"]))
        centred = c2.checkbox("Centre each head on its mean over groups", value=True)
        st.plotly_chart(bfigs.heads_groups_heatmap(result, axis, centred=centred), width="stretch")
        st.caption("Heads whose attention to the term differs most between groups (spread of mass ÷ uniform):")
        st.dataframe(fmt_table(result.divergent_heads(axis)), hide_index=True, width="stretch")
    if not (attributed or attended):
        st.info("Choose an attribution method or attention to see where the difference arises.")

    st.subheader("Per group")
    st.dataframe(fmt_table(result.groups), hide_index=True, width="stretch")
    d1, d2, d3 = st.columns(3)
    # callables: the files (about 1 MB of JSON for the default run) are built only when clicked
    d1.download_button("Sentences (CSV)", lambda: result.fills.to_csv(index=False), "bias_sentences.csv", "text/csv")
    d2.download_button("Swaps (CSV)", lambda: result.swaps.to_csv(index=False), "bias_swaps.csv", "text/csv")
    d3.download_button("Everything (JSON)", result.to_json, "bias_counterfactual.json", "application/json")
    ui.offer_session_file("bias", {"counterfactual": result})


# ==================================================================== WEAT
def weat_section():
    ui.guide("bias/weat")
    with st.expander("Upload your own word lists or tests (CSV)", expanded=False):
        st.caption("Shipped: the IAT stimuli of Caliskan et al. (2017) WEAT 1, 6 and 7 (sources in "
                   "`assets/bias/README.md`). A test names four lists: targets X, Y and attributes A, B.")
        up1, up2 = st.columns(2)
        with up1:
            words_base = uploaded_table("Word lists CSV (list, word)", "weat_words", assets.load("weat_words"),
                                        "bias_words_upload")
        with up2:
            tests_base = uploaded_table("Tests CSV (test, X, Y, A, B)", "weat_tests", assets.load("weat_tests"),
                                        "bias_tests_upload")
    with st.form("weat_settings"):
        c1, c2, c3 = st.columns([2, 1, 1])
        unit = c1.radio("Units", list(UNITS), format_func=UNITS.get, key="bias_units")
        n_samples = c2.number_input("Permutations", 1_000, 1_000_000, 100_000, 10_000,
                                    help="Exact when there are at most this many splits; otherwise sampled.")
        seed = c3.number_input("Seed", 0, 2**31 - 1, 1111)
        with st.expander(f"Edit the {len(tests_base)} tests and {len(words_base)} list words"):
            st.caption("A test names four lists of the word table: targets X, Y and attributes A, B.")
            tests_edit = st.data_editor(tests_base, num_rows="dynamic", width="stretch")
            words_edit = st.data_editor(words_base, num_rows="dynamic", width="stretch", height=240)
        st.form_submit_button("Run tests", type="primary")
    try:
        tests = bias.weat_tests(tests_edit, words_edit)
        templates = bias.seat_templates() if unit.startswith("seat") else ()
    except AttnvizError as exc:
        ui.show_error(exc)
        return
    if not tests:
        st.info("Add at least one test.")
        return
    aggregate = "sentence" if unit == "seat-sentence" else "word"
    results = []
    progress = st.progress(0.0, text="Running WEAT …")
    try:
        for i, (name, spec) in enumerate(tests.items()):
            progress.progress(i / len(tests), text=f"{name} ({i + 1}/{len(tests)}) …")
            roles = [spec[r] for r in ("X", "Y", "A", "B")]
            results.append(cached_weat(key, name, tuple(tuple(w) for _, w in roles), tuple(n for n, _ in roles),
                                       tuple(templates), aggregate, int(n_samples), int(seed)))
    except AttnvizError as exc:
        progress.empty()
        ui.show_error(exc)
        return
    progress.empty()
    table = bias.results_table(results)
    st.dataframe(fmt_table(table), hide_index=True, width="stretch", column_config=P_FORMAT)
    st.plotly_chart(bfigs.weat_effects(results), width="stretch")
    st.info("d > 0: X is closer to A (and Y to B) than the other way round. p is one-sided (permutation test; ties "
            "count as exceedances); p_holm adjusts for the number of tests. **A non-significant result is not "
            "evidence that the model has no bias**: the lists are small and the test has little power "
            "(May et al. 2019).", icon="ℹ️")
    chosen = st.selectbox("Associations of one test", [r.test for r in results])
    st.plotly_chart(bfigs.weat_associations(next(r for r in results if r.test == chosen)), width="stretch")
    d1, d2 = st.columns(2)
    d1.download_button("Results (CSV)", table.to_csv(index=False), "weat.csv", "text/csv")
    d2.download_button("Results with associations (JSON)", json.dumps([r.to_dict() for r in results], default=str),
                       "weat.json", "application/json")
    ui.offer_session_file("bias", {f"weat_{i}": r for i, r in enumerate(results)})


# =================================================================== pairs
def pairs_section():
    ui.guide("bias/pairs")
    try:
        scoring = scoring_for(handle)
    except InputError as exc:
        st.info(f"{exc} The bundled MiniLM is a sentence-embedding model without one; use the other probes here.",
                icon="ℹ️")
        return
    st.caption(f"Score: {SCORINGS[scoring]}. The metric is the share of pairs whose more-stereotyping sentence "
               "scores higher: 50% is no preference. These probes are noisy (Blodgett et al. 2021); the shipped "
               "pairs are a small set written for attnviz and contain stereotypes.")
    with st.expander("Upload your own sentence pairs (CSV)", expanded=False):
        pairs_base = uploaded_table("Sentence pairs CSV (sent_more, sent_less, bias_type)", "pairs",
                                    assets.load("pairs"), "bias_pairs_upload")
    with st.form("pairs_settings"):
        with st.expander(f"Edit the {len(pairs_base)} sentence pairs"):
            pairs_edit = st.data_editor(pairs_base, num_rows="dynamic", width="stretch", height=260)
        st.form_submit_button("Score pairs", type="primary")
    try:
        pairs = assets.validate(pairs_edit, "pairs")
        with st.spinner(f"Scoring {2 * len(pairs)} sentences …"):
            result = cached_pairs(key, pairs)
    except AttnvizError as exc:
        ui.show_error(exc)
        return
    st.metric("Pairs where the more stereotyping sentence is more likely", f"{result.metric:.1f}%",
              help=f"Bootstrap 95% interval over pairs: {result.ci_low:.1f}% … {result.ci_high:.1f}%.")
    st.caption(f"95% interval: {result.ci_low:.1f}% … {result.ci_high:.1f}% over {len(result.pairs)} pairs.")
    st.dataframe(fmt_table(result.by_type), hide_index=True, width="stretch")
    st.plotly_chart(bfigs.pair_scores(result), width="stretch")
    st.dataframe(fmt_table(result.pairs), hide_index=True, width="stretch")
    d1, d2 = st.columns(2)
    d1.download_button("Pairs (CSV)", result.pairs.to_csv(index=False), "pairs.csv", "text/csv")
    d2.download_button("Pairs (JSON)", result.to_json(), "pairs.json", "application/json")
    ui.offer_session_file("bias", {"pairs": result})


{"counterfactual": counterfactual_section, "weat": weat_section, "pairs": pairs_section}[probe]()
