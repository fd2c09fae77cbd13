"""Session-state keys the ui modules share, and the two values every one of them reads: the chosen model's
key and presenter mode. No widgets here."""

from __future__ import annotations

import streamlit as st

import attnviz

MODEL_KEY = "attnviz_model"  # session_state: (name, device, dtype)
SESSION_MODELS_KEY = "attnviz_session_models"  # session_state: {name: ModelHandle} built in this session
SESSION_PREFIX = "session:"
DEFAULT_KEY = (attnviz.DEFAULT_MODEL_ID, "auto", "float32")
PRESENTER_KEY = "attnviz_presenter"  # session_state: presenter mode on/off (also `presenter=1` in the link)
NOTICE_KEY = "_attnviz_file_message"  # session_state: (kind, text) shown once by the next page run
SHARED_TEXT_KEY = "attention_text"  # session_state: the text that follows the user across pages


def current_model_key() -> tuple[str, str, str]:
    """The sidebar's model as ``(name, device, dtype)``; the bundled default until one is chosen."""
    return st.session_state.get(MODEL_KEY, DEFAULT_KEY)


def presenter_mode() -> bool:
    """True when presenter mode is on: pages hide advanced controls and downloads."""
    return bool(st.session_state.get(PRESENTER_KEY, False))
