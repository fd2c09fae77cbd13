"""The only attnviz package that imports streamlit: the page scaffold, cached loaders and shared widgets.

One module per concern: :mod:`.page` (the scaffold pages start with, app.py's entry hooks), :mod:`.models`
(the model picker, cached loading, session models), :mod:`.caches` (results cached by every setting that
changes them), :mod:`.links` (shareable links, presenter mode, "Copy link"), :mod:`.session_files`,
:mod:`.gallery` (the example gallery), :mod:`.targets` (the target form), :mod:`.text` (escaping, error
messages, guidance) and :mod:`.state` (the session-state keys they share). Pages use ``from attnviz import ui``.
"""

from .caches import (
    cached_attention,
    cached_attribution,
    cached_evaluation,
    cached_generated_attribution,
    cached_generation,
    cached_read_table,
    cached_shared_target,
    cached_target_info,
    cached_words,
    run_audit_with_progress,
)
from .exercise import exercise_panel
from .gallery import comparison_picker, example_picker
from .jobs import heavy_job
from .links import app_sidebar, share_state
from .long_attention import long_attention, show_long_attention
from .models import (
    chat_template_option,
    current_model,
    get_model,
    handle_for,
    model_b_key,
    model_sidebar,
    use_session_model,
)
from .page import apply_launch_flags, ensure_entrypoint, mark_entrypoint, page, seed
from .session_files import offer_session_file
from .signin import require_sign_in
from .state import (
    DEFAULT_KEY,
    MODEL_KEY,
    PRESENTER_KEY,
    SESSION_MODELS_KEY,
    SESSION_PREFIX,
    SHARED_TEXT_KEY,
    current_model_key,
    presenter_mode,
)
from .targets import TargetChoice, TargetForm, target_form, target_params
from .text import guide, md_code, md_text, safe_message, show_error

__all__ = [
    "chat_template_option",
    "require_sign_in",
    "DEFAULT_KEY", "MODEL_KEY", "PRESENTER_KEY", "SESSION_MODELS_KEY", "SESSION_PREFIX", "SHARED_TEXT_KEY",
    "TargetChoice", "TargetForm", "app_sidebar", "apply_launch_flags", "cached_attention", "cached_attribution",
    "cached_evaluation", "cached_generated_attribution", "cached_generation", "cached_read_table",
    "cached_shared_target", "cached_target_info", "cached_words", "comparison_picker", "current_model",
    "exercise_panel",
    "current_model_key", "ensure_entrypoint", "example_picker", "get_model", "guide", "handle_for", "heavy_job",
    "long_attention",
    "mark_entrypoint", "md_code", "md_text", "model_b_key", "model_sidebar", "offer_session_file", "page",
    "presenter_mode", "run_audit_with_progress", "safe_message", "seed", "share_state", "show_error",
    "show_long_attention",
    "target_form", "target_params", "use_session_model",
]
