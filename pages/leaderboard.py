"""Leaderboard page: every attribution method's faithfulness on a sample set, next to a random ranking."""

import streamlit as st

from attnviz import ui
from attnviz.attribution import METHODS, method_title
from attnviz.audit.dataset import SAMPLE_SETS, load_dataset
from attnviz.errors import AttnvizError
from attnviz.figures.leaderboard import agreement_figure, leaderboard_figure
from attnviz.sharing import StateParam
from attnviz.ui.caches import cached_leaderboard

FAST = ("integrated_gradients", "input_x_gradient", "saliency", "occlusion", "rollout", "grad_attention",
        "attention_norm", "alti")

handle = ui.page(
    "leaderboard", title="Faithfulness leaderboard",
    caption="Every explainer scored the same way on the same examples — comprehensiveness, sufficiency, "
            "deletion and insertion — with bootstrap intervals, next to a random ranking.",
    params=[StateParam.choice("data", "leaderboard_data", list(SAMPLE_SETS), default="reviews"),
            StateParam.choices("method", "leaderboard_methods", METHODS, default=FAST),
            StateParam.integer("examples", "leaderboard_n", 2, 48, default=8)])

with st.form("leaderboard_input"):
    data = st.selectbox("Sample set", list(SAMPLE_SETS), key="leaderboard_data")
    methods = st.multiselect("Methods", list(METHODS), format_func=method_title, key="leaderboard_methods")
    count = st.number_input("Examples", 2, 48, key="leaderboard_n")
    go = st.form_submit_button("Score the methods", type="primary")

if go:
    try:
        texts = tuple(load_dataset(data, limit=int(count)).frame["text"])
        with st.spinner(f"Scoring {len(methods)} methods on {len(texts)} examples …"):
            st.session_state["leaderboard_result"] = cached_leaderboard(ui.current_model_key(), texts, tuple(methods))
    except AttnvizError as exc:
        ui.show_error(exc)
board = st.session_state.get("leaderboard_result")
if board is None:
    st.info("Choose methods and press **Score the methods**.")
    st.stop()
ui.guide("leaderboard/table")
st.plotly_chart(leaderboard_figure(board), width="stretch")
st.dataframe(board.table, hide_index=True)
ui.guide("leaderboard/agreement")
st.plotly_chart(agreement_figure(board), width="stretch")
if len(board.failures):
    st.warning(f"{len(board.failures)} method × example cells could not be computed; they are left out.")
st.download_button("leaderboard.json", board.to_json(), "leaderboard.json", "application/json")
