"""attnviz — Streamlit entry point: navigation and the shared model picker. No computation here."""

import streamlit as st

from attnviz.ui import apply_launch_flags, model_sidebar

apply_launch_flags()
st.set_page_config(page_title="attnviz", page_icon="🔎", layout="wide")

pages = [
    st.Page("pages/attention.py", title="Attention", icon="🔎", default=True),
]
navigation = st.navigation(pages)
model_sidebar()
navigation.run()
