"""Save and load lab models: safetensors weights + a JSON config. Nothing is ever unpickled.

Two layouts:

* a directory (``save_checkpoint(model, "my_lab_model")``): ``config.json``, ``model.safetensors`` and, for
  text models, the tokenizer files, so ``attnviz.load_model("my_lab_model")`` opens it too (after
  ``import attnviz.lab``, which registers the model type with transformers);
* one ``.safetensors`` file (``checkpoint_bytes(model)``, what the lab page downloads) with the config
  JSON in the file's metadata, so a single upload restores the model.

Every check on the way in raises :class:`attnviz.errors.InputError` with what is wrong: a pickle
file, a damaged file, a config with unknown or invalid settings, weights whose names or shapes do not
match the config.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from safetensors.torch import load, save, save_file

from ..errors import InputError
from .model import MODEL_TYPE, LabConfig, LabPreTrainedModel, build_model, build_tokenizer

METADATA_KEY = "attnviz_lab_config"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: Checkpoints above this many bytes (or parameters × 4) are refused before anything is built.
MAX_BYTES = 64 * 1024 * 1024

#: The config keys a lab checkpoint may hold: the model's own settings plus transformers' bookkeeping.
_OWN_KEYS = tuple(k for k in LabConfig.__annotations__ if not k.startswith("_"))
_BOOKKEEPING = {"model_type", "transformers_version", "architectures", "dtype", "torch_dtype"}


# ------------------------------------------------------------------------------------------- saving
def config_dict(config: LabConfig) -> dict:
    """The JSON-able settings of a lab model (only its own keys, so a reader sees what matters)."""
    doc = {"model_type": MODEL_TYPE, "architectures": list(config.architectures or [])}
    doc.update({key: getattr(config, key) for key in _OWN_KEYS})
    return doc


def _tensors(model: LabPreTrainedModel) -> dict[str, torch.Tensor]:
    return {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in model.state_dict().items()}


def save_checkpoint(model: LabPreTrainedModel, directory: str | os.PathLike) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (+ tokenizer files for text models) into ``directory``."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    doc = config_dict(model.config)
    (path / CONFIG_FILE).write_text(json.dumps(doc, indent=2))
    save_file(_tensors(model), str(path / WEIGHTS_FILE), metadata={METADATA_KEY: json.dumps(doc)})
    if not model.config.is_image_model:
        build_tokenizer(model.config.vocab, max_length=model.config.max_position_embeddings).save_pretrained(path)
    return path


def checkpoint_bytes(model: LabPreTrainedModel) -> bytes:
    """One safetensors file holding the weights and, in its metadata, the config."""
    return save(_tensors(model), metadata={METADATA_KEY: json.dumps(config_dict(model.config))})


# ------------------------------------------------------------------------------------------ loading
def load_checkpoint(source: str | os.PathLike | bytes, config: str | bytes | dict | None = None) -> LabPreTrainedModel:
    """A lab model (eval mode) from a directory, a ``.safetensors`` file or its bytes.

    Args:
        source: a directory written by :func:`save_checkpoint`, a ``.safetensors`` path, or file bytes.
        config: the config as JSON text/bytes or a dict, when it is not inside the file (or to override it).

    Raises:
        InputError: pickle or damaged files, unknown/invalid settings, weights that do not fit the config.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if path.is_dir():
            if config is None and (path / CONFIG_FILE).is_file():
                config = (path / CONFIG_FILE).read_bytes()
            path = path / WEIGHTS_FILE
        if not path.is_file():
            raise InputError(f"No checkpoint at '{path}': give a lab model directory or a .safetensors file.")
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"'{path.name}' is larger than {MAX_BYTES // 2**20} MB: not a lab model checkpoint.")
        data = path.read_bytes()
    tensors, metadata = _read_safetensors(data)
    if config is None:
        if METADATA_KEY not in metadata:
            raise InputError("This safetensors file carries no lab model config: upload its config.json too.")
        config = metadata[METADATA_KEY]
    lab_config = parse_config(config)
    return _build(lab_config, tensors)


def _read_safetensors(data: bytes) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if len(data) > MAX_BYTES:
        raise InputError(f"The checkpoint is larger than {MAX_BYTES // 2**20} MB: not a lab model checkpoint.")
    if data[:4] == b"PK\x03\x04" or data[:1] == b"\x80":
        raise InputError("This is a pickle checkpoint (PyTorch .pt/.bin). attnviz never unpickles files: "
                         "save the model as safetensors (the lab page's download, or save_checkpoint).")
    header_len = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if header_len <= 0 or header_len > len(data) - 8 or data[8:9] != b"{":
        raise InputError("This is not a safetensors file (no valid header): upload a lab model .safetensors file.")
    try:
        tensors = load(data)
        metadata = json.loads(data[8:8 + header_len]).get("__metadata__") or {}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise InputError(f"The safetensors file is damaged or truncated: {str(exc)[:200]}") from exc
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def parse_config(config: str | bytes | dict) -> LabConfig:
    """A validated LabConfig from JSON text/bytes or a dict (unknown keys and bad values are refused)."""
    if isinstance(config, (bytes, bytearray)):
        try:
            config = bytes(config).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("The config is not UTF-8 JSON text.") from exc
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as exc:
            raise InputError(f"The config is not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    if not isinstance(config, dict):
        raise InputError("The config must be a JSON object of settings.")
    if config.get("model_type") != MODEL_TYPE:
        raise InputError(f"This is not a lab model config: model_type is {config.get('model_type')!r}, "
                         f"expected '{MODEL_TYPE}'.")
    unknown = sorted(set(config) - set(_OWN_KEYS) - _BOOKKEEPING)
    if unknown:
        raise InputError(f"Unknown settings in the config: {', '.join(unknown[:8])}.")
    settings = {k: v for k, v in config.items() if k in _OWN_KEYS}
    if settings.get("vocab") is not None and (not isinstance(settings["vocab"], list) or
                                              not all(isinstance(t, str) for t in settings["vocab"])):
        raise InputError("The config's 'vocab' must be a list of token strings.")
    expected_vocab = len(settings["vocab"]) if isinstance(settings.get("vocab"), list) else None
    if expected_vocab is not None and settings.get("vocab_size") not in (None, expected_vocab):
        raise InputError(f"The config says vocab_size {settings['vocab_size']} but lists {expected_vocab} tokens.")
    try:
        lab_config = LabConfig(**settings)
    except InputError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"Invalid lab model config: {exc}") from exc
    architectures = config.get("architectures") or []
    if architectures and not isinstance(architectures, list):
        raise InputError("The config's 'architectures' must be a list.")
    return lab_config


def _build(config: LabConfig, tensors: dict[str, torch.Tensor]) -> LabPreTrainedModel:
    with torch.device("meta"):  # shapes only: nothing is allocated for a config that does not fit
        skeleton = build_model(config)
    expected = {name: tuple(t.shape) for name, t in skeleton.state_dict().items()}
    if sum(math.prod(s) for s in expected.values()) * 4 > MAX_BYTES:
        raise InputError("The config describes a model too large for the lab (over 64 MB of weights).")
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [f"{name} {tuple(tensors[name].shape)} (the config needs {expected[name]})"
             for name in sorted(set(expected) & set(tensors)) if tuple(tensors[name].shape) != expected[name]]
    problems = []
    if missing:
        problems.append(f"missing weights: {', '.join(missing[:5])}" + (" …" if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"weights the config has no place for: {', '.join(unexpected[:5])}"
                        + (" …" if len(unexpected) > 5 else ""))
    if wrong:
        problems.append("wrong shapes: " + "; ".join(wrong[:5]) + (" …" if len(wrong) > 5 else ""))
    if problems:
        raise InputError("The weights do not match the config — " + " | ".join(problems) + ".")
    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            raise InputError(f"Weight '{name}' is {tensor.dtype}, not a floating-point tensor.")
        if not bool(torch.isfinite(tensor).all()):
            raise InputError(f"Weight '{name}' holds NaN or infinite values.")
    model = build_model(config)
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    return model.eval()

