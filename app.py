"""attnviz — Streamlit entry point: navigation and the shared model picker. No computation here."""

import streamlit as st

from attnviz.ui import app_sidebar, apply_launch_flags, mark_entrypoint, require_sign_in

apply_launch_flags()
st.set_page_config(page_title="attnviz", page_icon="🔎", layout="wide")
require_sign_in()  # operator's ATTNVIZ_REQUIRE_LOGIN=1: nothing below runs until the visitor signs in

pages = [
    st.Page("pages/attention.py", title="Attention", icon=":material/grid_view:", default=True),
    st.Page("pages/attribution.py", title="Attribution", icon=":material/balance:"),
    st.Page("pages/compare_two.py", title="Compare two", icon=":material/compare_arrows:"),
    st.Page("pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
    st.Page("pages/bias.py", title="Bias probes", icon=":material/diversity_3:"),
    st.Page("pages/audit.py", title="Audit", icon=":material/fact_check:"),
    st.Page("pages/heads.py", title="Heads", icon=":material/hub:"),
    st.Page("pages/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:"),
    st.Page("pages/lab.py", title="Attention Lab", icon=":material/science:"),
]
navigation = st.navigation(pages)
mark_entrypoint()
app_sidebar()  # model picker (+ model from a shared link), presenter mode, "Copy link"
navigation.run()
