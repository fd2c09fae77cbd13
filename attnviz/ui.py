"""The only attnviz module that imports streamlit: cached loaders and shared widgets for the pages.

Models are shared singletons (``st.cache_resource``, bounded); results are cached per session-free
key of every setting that changes them (``st.cache_data`` returns copies, so no page mutates another's).
"""

from __future__ import annotations

import re
import sys

import streamlit as st

import attnviz
from attnviz.attention import AttentionResult
from attnviz.errors import AttnvizError, ModelLoadError, ResourceError
from attnviz.models.loading import TRUST_REMOTE_CODE_ENV, operator_trusts_remote_code

MODEL_KEY = "attnviz_model"  # session_state: (name, device, dtype)
SESSION_MODELS_KEY = "attnviz_session_models"  # session_state: {name: ModelHandle} built in this session
SESSION_PREFIX = "session:"
DEFAULT_KEY = (attnviz.DEFAULT_MODEL_ID, "auto", "float32")


_ENTRY_KEY = "_attnviz_entry_ran"


def mark_entrypoint() -> None:
    """Called by app.py on every run, before it runs the chosen page."""
    st.session_state[_ENTRY_KEY] = True


def ensure_entrypoint() -> None:
    """Pages call this first.

    On the very first request a fresh server receives, Streamlit still uses its legacy ``pages/``
    folder mode: a deep link (``/attribution``) then runs the page alone, without app.py's navigation
    and model picker. Switching the process to ``st.navigation`` mode (what app.py's first
    ``st.navigation`` call does) and rerunning lets app.py serve the same URL properly.
    """
    if not st.session_state.get(_ENTRY_KEY):
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
        st.rerun()


def apply_launch_flags(argv: list[str] | None = None) -> None:
    """`streamlit run app.py -- --trust-remote-code`: the operator's switch, read once at launch."""
    import os

    from attnviz.runtime import keep_freed_memory

    keep_freed_memory()  # reuse freed attention buffers instead of page-faulting fresh ones per request
    if "--trust-remote-code" in (sys.argv[1:] if argv is None else argv):
        os.environ[TRUST_REMOTE_CODE_ENV] = "1"


@st.cache_resource(max_entries=3, show_spinner=False)
def get_model(name: str, device: str, dtype: str) -> attnviz.ModelHandle:
    return attnviz.load_model(None if name == attnviz.DEFAULT_MODEL_ID else name, device=device, dtype=dtype)


def use_session_model(handle: attnviz.ModelHandle, label: str) -> None:
    """Make a model built in this session (the Attention Lab's) every page's model, for this session only."""
    import uuid

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


def current_model_key() -> tuple[str, str, str]:
    return st.session_state.get(MODEL_KEY, DEFAULT_KEY)


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


@st.cache_data(max_entries=8, show_spinner=False)
def cached_attention(model_key: tuple[str, str, str], text: str, text_pair: str | None, target: str | None,
                     layers: tuple[int, ...] | None) -> AttentionResult:
    handle = handle_for(model_key)
    return handle.attention(text, text_pair, target=target, layers=None if layers is None else list(layers))


_MD_PUNCT = re.compile(r"([\\`*\[\]<>!$~|#&])")
# '_' only where it could start/end emphasis (not inside SNAKE_CASE), ':' only where it could start a
# directive or shortcode (":red[", ":smile:"), so ordinary messages read the same in tests and logs
_MD_CONTEXT = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|:(?=\S)")
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")


def md_text(text) -> str:
    """User text made literal for st.markdown/st.error: every markdown-active character backslash-escaped,
    so a typed `![x](http://…)`, `[a](javascript:…)`, `:red[…]` or `$…$` shows as typed."""
    text = _MD_PUNCT.sub(r"\\\1", str(text)).replace("\r", " ").replace("\n", " ")
    text = _MD_CONTEXT.sub(lambda m: "\\" + m.group(0), text)
    text = re.sub(r"^(\d+)([.)])", r"\1\\\2", text)  # "1. x" would start a list
    return "\\" + text if text[:1] in ("-", "+", "=") else text


def md_code(text) -> str:
    """User text as an inline code span that it cannot break out of (the fence outgrows its backticks)."""
    text = str(text).replace("\n", " ")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def safe_message(message) -> str:
    """An error message for st.error: its own `code` spans kept, everything else (user text) literal."""
    parts = _CODE_SPAN.split(str(message))
    return "".join(part if i % 2 else md_text(part) for i, part in enumerate(parts))


def show_error(exc: Exception) -> None:
    """A user-caused problem as a readable message; GPU OOM offers the CPU."""
    st.error(safe_message(exc), icon="⚠️")
    if isinstance(exc, ResourceError) and exc.retry_on_cpu:
        name, _, _ = current_model_key()
        if st.button("Retry on the CPU"):
            st.session_state[MODEL_KEY] = (name, "cpu", "float32")
            st.rerun()


def model_sidebar() -> None:
    """Model picker shared by every page (the choice lives in session_state)."""
    import torch

    name, device, dtype = current_model_key()
    with st.sidebar:
        st.header("Model")
        with st.form("model_picker"):
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


@st.cache_data(max_entries=64, show_spinner=False)
def cached_attribution(model_key: tuple[str, str, str], text: str, text_pair: str | None, target,
                       method: str):
    """One method's attribution, cached by every setting that changes it (the target is a frozen dataclass)."""
    return handle_for(model_key).attribute(text, method, target=target, text_pair=text_pair)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_evaluation(model_key: tuple[str, str, str], text: str, text_pair: str | None, target,
                      methods: tuple[str, ...], level: str, _attributions: dict):
    """Agreement + faithfulness; ``_attributions`` is not hashed: it is determined by the other keys."""
    from attnviz.attribution.evaluate import evaluate

    return evaluate(handle_for(model_key), _attributions, text, text_pair, target=target, level=level)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_target_info(model_key: tuple[str, str, str], text: str, text_pair: str | None, target):
    """What is explained for this input: description, label and the label probabilities."""
    from attnviz.attribution.context import prepare

    scorer = prepare(handle_for(model_key), text, text_pair, target).scorer
    return {"description": scorer.description, "label": scorer.label,
            "probabilities": dict(scorer.label_probabilities), "is_probability": scorer.is_probability}
