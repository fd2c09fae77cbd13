"""Tiny random models of every text family transformers knows, derived from its auto mappings.

`tiny_model(model_type)` shrinks the family's default config through common attribute names (hidden
32, 2 layers, 4 heads, vocab 200) and instantiates the head attnviz would load (masked LM, causal LM,
seq2seq LM, classifier, else the base model). Families that are not plain text models (vision, audio,
multimodal sub-configs), or do not build quickly, are skipped with a reason.

Deciding a skip means building the family's default config and often its model (a "tiny" MoE can still
be tens of millions of parameters): most of the sweep's time once went there. `known_skips()` reads
those decisions from sweep_skips.json, recorded for one transformers version and this file's exact text;
for any other version or text it returns nothing and every family is decided live again (slower, same
result). Rewrite the record after changing this file or transformers: `python -m tests.models.sweep_configs`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import signal
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import transformers
from transformers import CONFIG_MAPPING
from transformers.models.auto import modeling_auto as auto

VOCAB = 200
HEAD_MAPPINGS = [  # in the order attnviz prefers a head
    auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES, auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES, auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    auto.MODEL_MAPPING_NAMES,
]
SIZES = {
    32: ["hidden_size", "d_model", "n_embd", "dim", "embedding_size", "word_embed_proj_dim", "embed_dim"],
    2: ["num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "decoder_layers",
        "num_decoder_layers"],
    4: ["num_attention_heads", "n_head", "n_heads", "num_heads", "encoder_attention_heads",
        "decoder_attention_heads", "num_key_value_heads"],
    8: ["head_dim", "d_kv", "attention_head_size", "kv_channels"],
    64: ["intermediate_size", "ffn_dim", "d_ff", "n_inner", "encoder_ffn_dim", "decoder_ffn_dim", "ffn_hidden_size",
         "hidden_dim"],
    VOCAB: ["vocab_size"],
    128: ["max_position_embeddings", "n_positions"],
}
TOKEN_IDS = {"pad_token_id": 0, "bos_token_id": 5, "eos_token_id": 6, "decoder_start_token_id": 6,
             "sep_token_id": 3, "cls_token_id": 2, "mask_token_id": 4, "unk_token_id": 1}


@cache
def text_model_types() -> list[str]:
    """Every model type in the five auto mappings that has a text head or is a text base model."""
    types = set()
    for mapping in HEAD_MAPPINGS:
        types |= set(mapping)
    return sorted(t for t in types if t in CONFIG_MAPPING)


SKIPS_FILE = Path(__file__).with_name("sweep_skips.json")


def _skips_key() -> dict:
    """What a recorded skip decision depends on: transformers' and torch's versions and this file's text."""
    import torch

    source = Path(__file__).read_bytes().replace(b"\r\n", b"\n")
    return {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
            "sweep_configs_sha256": hashlib.sha256(source).hexdigest()}


@cache
def known_skips() -> dict[str, str]:
    """{model_type: reason it is skipped} as recorded for this exact setup, or {} when the record is stale
    or missing (then `tiny_model` decides every family live)."""
    try:
        record = json.loads(SKIPS_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return record.get("skips", {}) if record.get("key") == _skips_key() else {}


def record_skips() -> dict[str, str]:
    """Decide every family live (as the sweep would, with no record) and write sweep_skips.json."""
    import torch

    torch.set_num_threads(1)
    skips = {}
    for model_type in text_model_types():
        try:
            tiny_model(model_type)
        except Skip as why:
            skips[model_type] = str(why)
    SKIPS_FILE.write_text(json.dumps({"key": _skips_key(), "skips": skips}, indent=1, sort_keys=True) + "\n")
    return skips


def head_class(model_type: str) -> str | None:
    for mapping in HEAD_MAPPINGS:
        name = mapping.get(model_type)
        if isinstance(name, (tuple, list)):
            name = name[0]
        if name:
            try:
                getattr(transformers, name)
            except Exception:  # noqa: BLE001 - missing optional dependency (torchaudio...): not a sweep family
                continue
            return name
    return None


class Skip(Exception):
    """This family is not a plain text model, or does not build as a tiny model: not part of the sweep."""


@contextmanager
def time_limit(seconds: float):
    def raise_timeout(*_):
        raise TimeoutError(f"took over {seconds:g} s")

    old = signal.signal(signal.SIGALRM, raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def tiny_config(model_type: str):
    cls = CONFIG_MAPPING[model_type]
    default = cls()
    if getattr(default, "sub_configs", None):
        raise Skip("composite config (vision/audio/multimodal or text sub-config)")
    overrides = {}
    for value, names in SIZES.items():
        for name in names:
            if name in default.to_dict() or hasattr(type(default), name) or hasattr(default, name):
                current = getattr(default, name, None)
                if isinstance(current, int) and not isinstance(current, bool):
                    overrides[name] = value
    for name, value in TOKEN_IDS.items():
        current = getattr(default, name, None)
        if isinstance(current, int) and current >= VOCAB:
            overrides[name] = value
    if isinstance(getattr(default, "layer_types", None), list):
        overrides["layer_types"] = default.layer_types[:2]
    config = cls(**overrides)
    for name, value in overrides.items():  # configs that ignore a keyword or derive a size from another
        if getattr(config, name, value) != value:
            try:
                setattr(config, name, value)
            except (AttributeError, ValueError, TypeError):
                pass
    return config


def tiny_model(model_type: str, *, seconds: float = 3.0):
    """(model in eval mode with eager attention, its architecture name); raises Skip with a reason."""
    try:  # the config first: it imports far less than the model class
        default = CONFIG_MAPPING[model_type]()
    except Exception as exc:  # noqa: BLE001
        raise Skip(f"default config does not build ({type(exc).__name__})") from exc
    if getattr(default, "sub_configs", None):
        raise Skip("composite config (vision/audio/multimodal or text sub-config)")
    if not isinstance(getattr(default, "vocab_size", None), int):
        raise Skip("no vocab_size: not a text model")
    arch = head_class(model_type)
    if arch is None:
        raise Skip("no text head class in this transformers")
    try:
        model_cls = getattr(transformers, arch)
        main_input = getattr(model_cls, "main_input_name", "input_ids")
        takes_ids = "input_ids" in inspect.signature(model_cls.forward).parameters
    except Exception as exc:  # noqa: BLE001 - a missing optional dependency (torchaudio...)
        raise Skip(f"its class does not import ({type(exc).__name__})") from exc
    if main_input != "input_ids":
        raise Skip(f"not a text model (main input {main_input})")
    if not takes_ids:
        raise Skip("its forward takes no input_ids")
    start = time.perf_counter()
    try:
        with time_limit(seconds):
            config = tiny_config(model_type)
            config.architectures = [arch]
            config._attn_implementation = "eager"
            model = model_cls(config).eval()
    except Skip:
        raise
    except TimeoutError as exc:
        raise Skip(f"tiny config does not build in {seconds:g} s") from exc
    except Exception as exc:  # noqa: BLE001 - a family whose default config does not shrink: skipped
        raise Skip(f"tiny config does not build ({type(exc).__name__}: {str(exc)[:120]})") from exc
    n_params = sum(p.numel() for p in model.parameters())
    if n_params > 1_500_000:
        raise Skip(f"tiny config is still {n_params:,} parameters")
    del start
    return model, arch


if __name__ == "__main__":
    recorded = record_skips()
    print(f"{SKIPS_FILE.name}: {len(recorded)} of {len(text_model_types())} families skipped")
