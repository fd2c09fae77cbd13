"""Heads page: which heads matter (importance), what removing some does (ablation, pruning), and which
positions and heads carry the difference between two inputs (activation patching vs AtP)."""

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import ui
from attnviz.audit.dataset import load_dataset
from attnviz.errors import AttnvizError
from attnviz.figures import heads as hfigs
from attnviz.sharing import StateParam
from attnviz.ui.caches import cached_ablation, cached_head_importance, cached_patching, cached_prune_curve

EXAMPLES = "A warm, funny film that I would happily watch again.\nThe acting was wooden and the plot made no sense."

handle = ui.page(
    "heads", title="Heads",
    caption="Which attention heads the explained number depends on, what happens when some are removed, and "
            "which positions and heads carry the difference between a clean and a corrupted input.",
    params=[StateParam.text("texts", "heads_texts", default=EXAMPLES),
            StateParam.text("clean", "heads_clean", default="The film was wonderful."),
            StateParam.text("corrupted", "heads_corrupted", default="The film was terrible."),
            StateParam.choice("ablation", "heads_how", ["zero", "mean"], default="zero")])
key = ui.current_model_key()

st.subheader("Head importance")
texts_box = st.text_area("Texts (one per line)", key="heads_texts", height=90, max_chars=20_000)
texts = tuple(line.strip() for line in texts_box.splitlines() if line.strip())
try:
    table = cached_head_importance(key, texts)
except AttnvizError as exc:
    ui.show_error(exc)
    st.stop()
ui.guide("heads/importance")
names = [f"L{r.layer}H{r.head}" for r in table.itertuples()]
if "heads_ablate" not in st.session_state:  # starts with the three most important heads
    st.session_state["heads_ablate"] = [f"L{r.layer}H{r.head}" for r in table.nlargest(3, "importance").itertuples()]
# Clicking cells (or dragging a box) on the heatmap chooses the heads to ablate; a new selection replaces
# the multiselect's value, which can still be edited by hand afterwards.
click = st.session_state.get("heads_importance_click")
points = click["selection"]["points"] if click else []
picked = sorted({f"{p['y']}{p['x']}" for p in points if f"{p.get('y')}{p.get('x')}" in names},
                key=names.index)
if picked and picked != st.session_state.get("heads_picked"):
    st.session_state["heads_picked"] = picked
    st.session_state["heads_ablate"] = picked
st.session_state["heads_ablate"] = [n for n in st.session_state["heads_ablate"] if n in names]
chosen = st.session_state["heads_ablate"]
heads = tuple((int(n[1:].split("H")[0]), int(n.split("H")[1])) for n in chosen)
st.plotly_chart(hfigs.importance_figure(table, selected=heads, clickable=True), width="stretch",
                on_select="rerun", selection_mode=("points", "box", "lasso"), key="heads_importance_click")

st.subheader("Ablate heads")
chosen = st.multiselect("Heads to remove", names, key="heads_ablate",
                        help="Click heads on the importance heatmap (shift-click or drag a box for several), or "
                             "pick them here. Starts with the three most important heads.")
how = st.radio("Ablation", ["zero", "mean"], horizontal=True, key="heads_how",
               help="zero: the head's output is zeroed; mean: replaced by its mean over the text's positions.")
heads = tuple((int(n[1:].split("H")[0]), int(n.split("H")[1])) for n in chosen)
try:
    plain = cached_ablation(key, texts[0], (), how)
    ablated = cached_ablation(key, texts[0], heads, how)
except AttnvizError as exc:
    ui.show_error(exc)
    st.stop()
ui.guide("heads/ablation")
a, b = plain.output.ravel(), ablated.output.ravel()
cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
left, right = st.columns(2)
left.metric("Output cosine to the unablated model", f"{cosine:.4f}")
left.metric("Output change (L2)", f"{float(np.linalg.norm(a - b)):.4f}")
change = np.abs(ablated.attention - plain.attention).mean(axis=(2, 3))
right.plotly_chart(hfigs.importance_figure(pd.DataFrame(
    {"layer": np.repeat(np.arange(change.shape[0]), change.shape[1]), "head": np.tile(np.arange(change.shape[1]),
     change.shape[0]), "importance": change.ravel()})).update_layout(
    title={"text": "Mean |Δ attention| per head after ablation"}), width="stretch")

st.subheader("Prune the least important heads")
limit = st.number_input("Sample texts (reviews)", 2, 48, 8, key="heads_prune_n")
if st.button("Draw the pruning curve", key="heads_prune_go"):
    sample = tuple(load_dataset("reviews").frame["text"].head(int(limit)))
    try:
        st.session_state["heads_prune_curve"] = cached_prune_curve(key, sample, texts)
    except AttnvizError as exc:
        ui.show_error(exc)
if "heads_prune_curve" in st.session_state:
    ui.guide("heads/prune")
    st.plotly_chart(hfigs.prune_figure(st.session_state["heads_prune_curve"]), width="stretch")

st.subheader("Activation patching")
c1, c2 = st.columns(2)
clean = c1.text_input("Clean text", key="heads_clean", max_chars=2_000)
corrupted = c2.text_input("Corrupted text (same number of tokens)", key="heads_corrupted", max_chars=2_000)
try:
    result = cached_patching(key, clean, corrupted)
except AttnvizError as exc:
    ui.show_error(exc)
    st.stop()
ui.guide("heads/patching")
st.markdown(f"f(clean) = {result.clean_output:.4f}, f(corrupted) = {result.corrupted_output:.4f}; "
            f"AtP vs patching: Spearman ρ {result.agreement['residual']['spearman']:.2f} (residual), "
            f"{result.agreement['heads']['spearman']:.2f} (heads).")
st.plotly_chart(hfigs.patching_figure(result), width="stretch")
