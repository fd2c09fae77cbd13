"""The model: the shared cached loader, models built in this session (the Lab's), the sidebar picker, and
the handle a page works on.

Models are shared singletons (``st.cache_resource``, bounded); a model built in one session (the Attention
Lab's) lives in that session's state only.
"""

from __future__ import annotations

import os
import uuid

import streamlit as st
import torch

import attnviz
from attnviz.errors import AttnvizError, ModelLoadError
from attnviz.jobs import default_queue
from attnviz.models.loading import operator_trusts_remote_code
from attnviz.operator import SHARED_ENV, ModelPolicy

from .budgets import MODELS, budgeted, model_nbytes
from .state import (
    DEFAULT_KEY,
    MODEL_KEY,
    SESSION_MODELS_KEY,
    SESSION_PREFIX,
    current_model_key,
    presenter_mode,
)
from .text import md_text, show_error

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def apply_operator_settings() -> None:
    """At launch: a server that listens beyond localhost gets the closed defaults (``ATTNVIZ_SHARED=1``,
    unless the operator set it), and malformed operator settings stop every page here with a message, not deep inside a run."""
    address = (st.get_option("server.address") or "").strip()
    if address not in _LOOPBACK:  # empty: Streamlit listens on every interface
        os.environ.setdefault(SHARED_ENV, "1")
    try:
        ModelPolicy.from_env()
        default_queue()
    except ValueError as exc:
        st.error(f"The server's operator settings are malformed: {md_text(exc)}. Nothing runs until the operator "
                 "fixes them and restarts the server.")
        st.stop()


@budgeted(MODELS, model_nbytes, per_session=False)
@st.cache_resource(max_entries=3, show_spinner=False)
def get_model(name: str, device: str, dtype: str) -> attnviz.ModelHandle:
    return attnviz.load_model(None if name == attnviz.DEFAULT_MODEL_ID else name, device=device, dtype=dtype)


def use_session_model(handle: attnviz.ModelHandle, label: str) -> None:
    """Make a model built in this session (the Attention Lab's) every page's model, for this session only."""
    name = f"{SESSION_PREFIX}{label} [{uuid.uuid4().hex[:8]}]"  # unique, so cache keys never cross sessions
    models = st.session_state.setdefault(SESSION_MODELS_KEY, {})
    models.clear()
    models[name] = handle
    st.session_state[MODEL_KEY] = (name, "cpu", "float32")


def handle_for(key: tuple[str, str, str]) -> attnviz.ModelHandle:
    """The handle for a model key: a session-built model, or a shared cached one."""
    if key[0].startswith(SESSION_PREFIX):
        handle = st.session_state.get(SESSION_MODELS_KEY, {}).get(key[0])
        if handle is None:
            raise ModelLoadError("This session's lab model is gone (the page was reloaded): train it again in the "
                                 "Attention Lab, or load another model.")
        return handle
    return get_model(*key)


def current_model() -> attnviz.ModelHandle | None:
    """The handle chosen in the sidebar, or None after showing why it could not load."""
    key = current_model_key()
    try:
        with st.spinner(f"Loading {md_text(key[0])} …"):
            return handle_for(key)
    except AttnvizError as exc:
        show_error(exc)
        if key != DEFAULT_KEY and st.button("Back to the bundled default model"):
            st.session_state[MODEL_KEY] = DEFAULT_KEY
            st.rerun()
        return None


def chat_template_option(handle, key: str, what: str, where=st) -> bool:
    """The "Apply the chat template" checkbox, drawn in ``where`` only for a decoder whose tokenizer has a
    template (False otherwise). ``what``: what the template's special tokens mean on this page."""
    return bool(getattr(handle, "has_chat_template", False) and handle.kind == "decoder" and where.checkbox(
        "Apply the chat template", key=key,
        help="Reads the text as a user message in the model's chat format (role markers, turn tokens); the "
             f"template's tokens {what}."))


def model_b_key(name: str) -> tuple[str, str, str]:
    """Model B of the Compare-two page: a typed name on A's device and precision; empty = A's model."""
    key_a = current_model_key()
    name = (name or "").strip()
    if not name or name == key_a[0]:
        return key_a
    return (name, key_a[1], key_a[2])


def model_sidebar() -> None:
    """Model picker shared by every page (the choice lives in session_state)."""
    name, device, dtype = current_model_key()
    with st.sidebar:
        st.header("Model")
        picker = st.expander("Change model") if presenter_mode() else st.container()  # fewer controls
        with picker, st.form("model_picker"):
            new_name = st.text_input(
                "Hugging Face id or local directory", value=name,
                help="Leave the default for the bundled all-MiniLM-L6-v2 (works offline). Other models must be "
                     "in the local Hugging Face cache or a directory saved with save_pretrained (safetensors).",
            )
            devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (
                ["mps"] if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else [])
            new_device = st.selectbox("Device", devices, index=devices.index(device) if device in devices else 0)
            dtypes = ["float32"] + (["float16", "bfloat16"] if len(devices) > 2 else [])
            new_dtype = st.selectbox("Precision", dtypes, index=dtypes.index(dtype) if dtype in dtypes else 0,
                                     help="Half precision is offered on a GPU only.")
            if st.form_submit_button("Load model"):
                st.session_state[MODEL_KEY] = (new_name.strip() or attnviz.DEFAULT_MODEL_ID, new_device, new_dtype)
                st.rerun()
        handle = None
        try:
            handle = handle_for(current_model_key())
        except AttnvizError:
            pass
        if handle is not None:
            info = handle.describe()
            st.caption(f"**{info['kind']}** · {info['layers']} layers × {info['heads']} heads · "
                       f"{info['device']} · {info['dtype']} · up to {info['max_tokens']} tokens")
        st.caption("Remote code: " + ("**enabled by the operator**" if operator_trusts_remote_code() else "off"))
        policy = ModelPolicy.from_env()
        if policy.restricted:
            st.caption(md_text(f"Models this server allows: {policy.describe()}."))
