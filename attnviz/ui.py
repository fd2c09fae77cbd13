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
    from attnviz.attribution.shap_method import warm_up_in_background

    warm_up_in_background()  # shap's import + numba JIT (seconds) off the first SHAP click
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


# ------------------------------------------------------------------ links, presenter mode, guidance, files
PRESENTER_KEY = "attnviz_presenter"  # session_state: presenter mode on/off (also `presenter=1` in the link)
_FIRST_QUERY_KEY = "_attnviz_first_query"  # session_state: the link this session was opened with
_PAGE_SEEDED_KEY = "_attnviz_page_seeded"  # session_state: True once a page took its settings from the link
_LINK_SLOT_KEY = "_attnviz_link_slot"  # session_state: this run's sidebar placeholder for the link
_FILE_MESSAGE_KEY = "_attnviz_file_message"  # session_state: outcome of the last session-file upload
_PRESENTER_CSS = """<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 20px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stCaptionContainer"], label, button, input, textarea { font-size: 1.15rem !important; }
h1 { font-size: 2.6rem !important; }
[data-testid="stToolbar"], [data-testid="stDecoration"] { display: none; }
.block-container { padding-top: 2rem; max-width: 100%; }
</style>"""  # fixed text: no user input ever goes into it


def _query_snapshot() -> dict[str, list[str]]:
    return {name: st.query_params.get_all(name) for name in st.query_params}


def _sync_query_params(wanted: dict[str, str | list[str]], keep_others: bool) -> None:
    """Make the browser's URL carry ``wanted`` (Streamlit's own ``embed`` parameters are left alone)."""
    from attnviz.sharing import RESERVED

    if not keep_others:
        for name in list(st.query_params):
            if name not in wanted and name not in RESERVED:
                del st.query_params[name]
    for name, value in wanted.items():
        values = [value] if isinstance(value, str) else list(value)
        if st.query_params.get_all(name) != values:
            st.query_params[name] = value


def _app_params() -> dict[str, str | list[str]]:
    from attnviz.sharing import dump_model

    out = dict(dump_model(current_model_key(), DEFAULT_KEY))
    if presenter_mode():
        out["presenter"] = "1"
    return out


def _link_for(params: dict[str, str | list[str]]) -> str:
    """The full URL of this page with ``params`` (relative ``?…`` where the browser's URL is unknown)."""
    from urllib.parse import quote, urlencode

    base = None
    try:
        base = st.context.url
    except Exception:  # noqa: BLE001 - no browser context (bare mode): fall back to a relative link
        base = None
    query = urlencode(params, doseq=True, quote_via=quote)
    return f"{base or ''}?{query}" if query else (base or "?")


def _draw_link(params: dict[str, str | list[str]], notes: list[str]) -> None:
    slot = st.session_state.get(_LINK_SLOT_KEY)
    target = slot.container() if slot is not None else st.sidebar.container()
    with target:
        st.markdown("**Copy link** — reopens this view (copy button at the box's right)")
        st.code(_link_for(params), language=None, wrap_lines=True)
        for note in notes:
            st.caption(note)


def app_sidebar() -> None:
    """app.py calls this before the page runs: the model and presenter mode from the link (once per
    session), the model picker, the presenter toggle and stylesheet, and the sidebar "Copy link" box
    (the model-only link until the page's ``share_state`` redraws it with the page's settings)."""
    from attnviz.sharing import MODEL_PARAMS, parse_model

    if _FIRST_QUERY_KEY not in st.session_state:
        query = _query_snapshot()
        st.session_state[_FIRST_QUERY_KEY] = query
        model, rejected = parse_model(query, DEFAULT_KEY)
        if model is not None:
            st.session_state[MODEL_KEY] = model
        flag = query.get("presenter", [None])[-1]
        if flag in ("1", "0"):
            st.session_state[PRESENTER_KEY] = flag == "1"
        elif flag is not None:
            rejected.append("presenter")
        if rejected:
            st.session_state[_FILE_MESSAGE_KEY] = ("warning", _rejected_message("link", rejected))
    model_sidebar()
    with st.sidebar:
        st.toggle("Presenter mode", key=PRESENTER_KEY,
                  help="Larger type and fewer controls, for projecting to a room. Carried in the link.")
        st.session_state[_LINK_SLOT_KEY] = st.empty()
    if presenter_mode():
        st.markdown(_PRESENTER_CSS, unsafe_allow_html=True)
    wanted = _app_params()
    for name in (*MODEL_PARAMS, "presenter"):
        if name not in wanted and name in st.query_params:
            del st.query_params[name]
    _sync_query_params(wanted, keep_others=True)
    _draw_link(wanted, [])


def presenter_mode() -> bool:
    """True when presenter mode is on: pages hide advanced controls and downloads."""
    return bool(st.session_state.get(PRESENTER_KEY, False))


def _rejected_message(source: str, names: list[str]) -> str:
    shown = ", ".join(f"`{n}`" for n in names if n.replace("_", "").isalnum())  # only our own names
    return (f"Some settings in the {source} were not valid here and were ignored ({shown or 'unnamed'}); the "
            "page uses its defaults for them.")


def share_state(page: str, params) -> None:
    """Make a page's settings shareable. Call it once, near the top of the page, before its widgets.

    On the session's first page run it fills the widgets' session-state keys from the link it was opened
    with (type- and range-checked: bad values are ignored with a notice); on every run it writes the
    current values of ``params`` (plus the model and presenter mode) to the browser's URL, shows the
    "Copy link" box in the sidebar, and offers "Load session" for files saved by ``offer_session_file``.
    Widgets must use the keys named in ``params``; give them defaults with
    ``st.session_state.setdefault(key, default)`` rather than a ``value=``/``default=`` argument (Streamlit
    logs a warning when both set a widget).

    Args:
        page: the page's name in session files (``"attention"``).
        params: ``attnviz.sharing.StateParam`` list, e.g.
            ``[StateParam.text("text", "attention_page_text"), StateParam.integer("layer", "attention_layer", 0, 5)]``.

    Example:
        >>> share_state("attention", [StateParam.integer("layer", "attention_layer", 0, handle.num_layers - 1)])
    """
    from attnviz.sharing import dump_state, parse_state

    params = list(params)
    if not st.session_state.get(_PAGE_SEEDED_KEY):
        st.session_state[_PAGE_SEEDED_KEY] = True
        values, rejected = parse_state(params, st.session_state.get(_FIRST_QUERY_KEY, {}))
        for key, value in values.items():
            st.session_state[key] = value
        if rejected:
            st.warning(_rejected_message("link", rejected), icon="🔗")
    message = st.session_state.pop(_FILE_MESSAGE_KEY, None)
    if message is not None:
        getattr(st, message[0])(message[1])
    state = {p.key: st.session_state[p.key] for p in params if p.key in st.session_state}
    wanted = {**_app_params(), **dump_state(params, state)}
    _sync_query_params(wanted, keep_others=False)
    notes = []
    too_long = [p.name for p in params if p.kind == "text" and isinstance(state.get(p.key), str)
                and len(state[p.key]) > p.max_chars]
    if too_long:
        notes.append(f"Too long for a link, left out: {', '.join(too_long)}. Save a session file instead.")
    if current_model_key()[0].startswith(SESSION_PREFIX):
        notes.append("This session's lab model is not in the link (the link opens the default model).")
    _draw_link(wanted, notes)
    with st.sidebar.expander("Session file"):
        st.file_uploader("Load a saved session (.json)", type=["json"], key=f"session_upload_{page}",
                         max_upload_size=20, on_change=_load_session_file, args=(page, params))
        st.session_state[f"_attnviz_session_params_{page}"] = params


def _load_session_file(page: str, params) -> None:
    """Upload callback (runs before the page): validate the file, then fill the widgets and the model."""
    from attnviz.session import SessionFile
    from attnviz.sharing import parse_state

    file = st.session_state.get(f"session_upload_{page}")
    if file is None:
        return
    try:
        session = SessionFile.from_json(file.getvalue())
        if session.page != page:
            raise AttnvizError(f"This session was saved on the {session.page!r} page; open that page and load "
                               "it there.")
    except AttnvizError as exc:
        st.session_state[_FILE_MESSAGE_KEY] = ("error", f"Could not load the session file: {exc}")
        return
    values, rejected = parse_state(params, session.state, in_file=True)
    for key, value in values.items():
        st.session_state[key] = value
    if session.model is not None:
        st.session_state[MODEL_KEY] = session.model
    text = f"Session loaded (saved {session.created or 'at an unknown time'}): inputs and settings restored."
    if rejected:
        text += " " + _rejected_message("file", rejected)
    st.session_state[_FILE_MESSAGE_KEY] = ("warning" if rejected else "success", text)


def offer_session_file(page: str, results: dict | None = None) -> None:
    """A "Save session" download in the sidebar: this page's link settings (texts in full), the model and
    ``results`` (``{name: result}``, each with ``to_json()``) as an ``attnviz-session`` JSON file.

    Call it after the results exist, with the same ``page`` as ``share_state``. The file is built only when
    the button is clicked (large attention results cost nothing until then).
    """
    from attnviz.session import SessionFile
    from attnviz.sharing import dump_state

    params = st.session_state.get(f"_attnviz_session_params_{page}", [])
    state = dump_state(params, {p.key: st.session_state[p.key] for p in params if p.key in st.session_state},
                       in_file=True)
    model, results = current_model_key(), dict(results or {})

    def build() -> str:  # runs on click, outside the script run: only the values captured above
        return SessionFile.build(page, model, state, {n: r.to_json() for n, r in results.items()}).to_json()

    with st.sidebar:
        st.download_button("Save session (.json)", build, f"attnviz-{page}-session.json", "application/json",
                           on_click="ignore", key=f"session_save_{page}", icon=":material/download:",
                           help="Inputs, settings and results; load it back under 'Session file'.")


def guide(key: str) -> None:
    """The "What am I looking at?" paragraph for one view (texts in ``attnviz.guidance``)."""
    from attnviz.guidance import guidance

    with st.expander("What am I looking at?", icon=":material/help:"):
        st.markdown(guidance(key))


def example_picker(page: str, text_key: str, pair_key: str | None = None, view_key: str | None = None,
                   views: list[str] | None = None) -> None:
    """The example gallery: pick an example, one click loads its text (and pair) into this page's widgets."""
    from attnviz.examples import load_examples

    try:
        examples = load_examples()
    except AttnvizError as exc:
        show_error(exc)
        return
    by_id = {e.id: e for e in examples}
    with st.expander("Example gallery", icon=":material/auto_stories:"):
        ids = sorted(by_id, key=lambda i: (by_id[i].page != page, list(by_id).index(i)))
        chosen = st.selectbox("Example", ids, key=f"{page}_example", format_func=lambda i: by_id[i].title
                              + ("" if by_id[i].page == page else f"  ({by_id[i].page} page)"))
        example = by_id[chosen]
        st.caption(f"Look for: {example.look_for} — best on the **{example.page.title()}** page"
                   f" ({example.view}).")
        st.button("Load example", key=f"{page}_example_load", on_click=_load_example,
                  args=(example, text_key, pair_key, view_key, views or []))


def _load_example(example, text_key: str, pair_key: str | None, view_key: str | None, views: list[str]) -> None:
    st.session_state[text_key] = example.text
    st.session_state["attention_text"] = example.text  # the shared text follows to the other pages
    if pair_key is not None:
        st.session_state[pair_key] = example.pair or ""
    if view_key is not None and example.view in views:
        st.session_state[view_key] = example.view

def comparison_picker(page: str, key_a: str, key_b: str, view_key: str | None = None) -> None:
    """The example gallery's counterfactual pairs: one click fills text A and text B (and the tab)."""
    from attnviz.examples import load_comparisons

    try:
        comparisons = load_comparisons()
    except AttnvizError as exc:
        show_error(exc)
        return
    if not comparisons:
        return
    by_id = {c.id: c for c in comparisons}
    with st.expander("Example gallery", icon=":material/auto_stories:"):
        chosen = st.selectbox("Example pair", list(by_id), key=f"{page}_example",
                              format_func=lambda i: by_id[i].title)
        pair = by_id[chosen]
        st.caption(f"Look for: {pair.look_for} — best in the **{pair.view}** tab.")
        st.button("Load example", key=f"{page}_example_load", on_click=_load_comparison,
                  args=(pair, key_a, key_b, view_key))


def _load_comparison(pair, key_a: str, key_b: str, view_key: str | None) -> None:
    st.session_state[key_a], st.session_state[key_b] = pair.a.text, pair.b.text
    if view_key is not None:
        st.session_state[view_key] = pair.view


# --- audit ---
@st.cache_data(max_entries=4, show_spinner=False)
def cached_read_table(data: bytes, filename: str):
    """An uploaded (or sample) file parsed into a DataFrame with all its columns (InputError if malformed)."""
    from attnviz.audit.dataset import read_table

    return read_table(data, filename)


def run_audit_with_progress(model_key: tuple[str, str, str], dataset, settings, *, cache_dir=True):
    """Run an audit with an ``st.progress`` bar (left on the page when done).

    Streamlit stops a running script when a button (Cancel) is pressed: the next progress update raises
    inside the run, the finished examples are already in the on-disk cache, and the next Run resumes there.
    """
    from attnviz.audit import run_audit

    bar = st.progress(0.0, text=f"Auditing {len(dataset)} examples …")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(1.0, done / max(1, total)), text=message)

    result = run_audit(handle_for(model_key), dataset, settings, cache_dir=cache_dir, progress=progress)
    bar.progress(1.0, text=f"Done: {len(result.ok)} of {result.total} examples"
                           + (f" ({result.cache_hits} from the cache)" if result.cache_hits else ""))
    return result

# --- compare two / generate ---
def model_b_key(name: str) -> tuple[str, str, str]:
    """Model B of the Compare-two page: a typed name on A's device and precision; empty = A's model."""
    key_a = current_model_key()
    name = (name or "").strip()
    if not name or name == key_a[0]:
        return key_a
    return (name, key_a[1], key_a[2])


@st.cache_data(max_entries=16, show_spinner=False)
def cached_words(model_key: tuple[str, str, str], text: str) -> tuple:
    """(word text, token positions) per word of ``text``: what word-level comparisons pool over."""
    return handle_for(model_key).encode(text).words


@st.cache_data(max_entries=16, show_spinner=False)
def cached_shared_target(model_key: tuple[str, str, str], text: str):
    """The model's default target with A's predicted label fixed (both sides explain the same number)."""
    from attnviz.diff import shared_target

    return shared_target(handle_for(model_key), text)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_generation(model_key: tuple[str, str, str], prompt: str, max_new_tokens: int, do_sample: bool,
                      temperature: float, top_k: int, seed: int):
    """A continuation plus its one-pass attention, cached by every decoding setting."""
    from attnviz.generation import generate

    return generate(handle_for(model_key), prompt, max_new_tokens=max_new_tokens, do_sample=do_sample,
                    temperature=temperature, top_k=top_k, seed=seed)


@st.cache_data(max_entries=32, show_spinner=False)
def cached_generated_attribution(model_key: tuple[str, str, str], generation_args: tuple, step: int, method: str):
    """Attribution of generated token ``step``; ``generation_args`` are cached_generation's after the key."""
    from attnviz.generation import attribute_generated

    generation = cached_generation(model_key, *generation_args)
    return attribute_generated(handle_for(model_key), generation, step, method)
