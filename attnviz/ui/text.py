"""Text on the page: user text made literal for markdown, error messages, and the per-view guidance."""

from __future__ import annotations

import re

import streamlit as st

from attnviz.errors import ResourceError
from attnviz.guidance import guidance

from .state import MODEL_KEY, current_model_key

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


def rejected_message(source: str, names: list[str]) -> str:
    """The notice for link or file values that were ignored; only our own parameter names are quoted."""
    shown = ", ".join(f"`{n}`" for n in names if n.replace("_", "").isalnum())
    return (f"Some settings in the {source} were not valid here and were ignored ({shown or 'unnamed'}); the "
            "page uses its defaults for them.")


def guide(key: str) -> None:
    """The "What am I looking at?" paragraph for one view (texts in ``attnviz.guidance``)."""
    with st.expander("What am I looking at?", icon=":material/help:"):
        st.markdown(guidance(key))
