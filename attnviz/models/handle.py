"""The model handle: one loaded model + tokenizer + what we know about it, shared by every page.

A handle is safe to share between threads (Streamlit sessions): it holds no per-request state.
Attention weights are captured per thread through :mod:`attnviz.models.capture`.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import os
import threading

import torch
from transformers import AutoTokenizer, PretrainedConfig

from .. import bounded as bounded_path
from ..attention import extract_attention
from ..attribution import attribute, check_method
from ..attribution import run as run_attribution
from ..attribution.context import prepare
from ..errors import InputError, ModelLoadError, ResourceError
from ..operator import ModelPolicy
from ..vision import handle as _vision
from . import capture as _capture
from . import families as _families
from .encoding import (
    MAX_ATTENTION_VALUES,
    MAX_TEXT_CHARS,
    AttentionSite,
    Encoding,
    encode,
    encode_chat,
    has_chat_template,
    pad_token_id,
)
from .loading import (
    choose_model_class,
    is_default_name,
    is_vision_config,
    load_config,
    model_kind,
    operator_trusts_remote_code,
    pick_device,
    pick_dtype,
    remote_code_failed,
    resolve_name,
    sentence_max_length,
    sentence_pooling,
    weights_bytes,
)

__all__ = ["MAX_ATTENTION_VALUES", "MAX_TEXT_CHARS", "ModelHandle", "from_pretrained_model", "load_model"]


class ModelHandle:
    """A loaded model ready for attention and attribution.

    Example:
        >>> model = attnviz.load_model()
        >>> result = model.attention("The cat sat on the mat.")
        >>> result.attentions.shape   # [layers, heads, n, n]
    """

    def __init__(self, model, tokenizer, *, name: str, kind: str, pooling: str | None, device: torch.device,
                 sentence_max_length: int | None = None):
        self.model = model.eval()
        for param in model.parameters():  # explanations need input gradients only: skip weight gradients
            param.requires_grad_(False)
        self.tokenizer = tokenizer
        _pad_for_batches(model, tokenizer)
        self.name = name
        self.kind = kind
        self.pooling = pooling
        self.device = device
        self.dtype = next(model.parameters()).dtype
        self.config = model.config
        self.captures_natively = model.config._attn_implementation == _capture.IMPLEMENTATION
        self.max_length = _max_length(tokenizer, model.config)
        #: where sentence embeddings are truncated (sentence-transformers' own max_seq_length)
        self.sentence_max_length = min(sentence_max_length or self.max_length, self.max_length)
        self._lock = threading.Lock()  # only for the one-time site map
        self._sites: dict[_capture.CallKey, AttentionSite] | None = None
        self._heads: int | None = None  # heads seen in the weights of the first forward
        #: why this model runs on the eager path (None while it captures natively)
        self.eager_reason: str | None = None if self.captures_natively else "it does not take attnviz's implementation"

    # ------------------------------------------------------------------ facts
    @property
    def num_layers(self) -> int:
        return int(getattr(self.config, "num_hidden_layers", None) or getattr(self.config, "num_layers", 0)
                   or getattr(self.config, "n_layer", 0))

    @property
    def num_heads(self) -> int:
        self.attention_sites()  # the heads the weights really have (ConvBERT keeps half as attention heads)
        if self._heads:
            return self._heads
        return int(getattr(self.config, "num_attention_heads", None) or getattr(self.config, "num_heads", 0)
                   or getattr(self.config, "n_head", 0))

    @property
    def kv_groups(self) -> tuple[tuple[int, ...], ...] | None:
        """Grouped-query attention: the query heads that share each key/value head (None: one each).

        transformers repeats key/value head j for query heads j·g … j·g + g − 1 (g = heads / kv heads).
        """
        heads = self.num_heads
        kv = getattr(self.config, "num_key_value_heads", None)
        if not isinstance(kv, int) or kv <= 0 or kv >= heads or heads % kv:
            return None
        size = heads // kv
        return tuple(tuple(range(g * size, (g + 1) * size)) for g in range(kv))

    @functools.cached_property
    def pools_by_pad_token(self) -> bool:
        """A classifier that reads each row at its last token not equal to ``config.pad_token_id`` (GPT-2,
        Llama... classification heads). Given ``inputs_embeds`` instead of ids it cannot see the padding and
        reads the last position: right-padded gradient batches would explain padding, so they run row by row.
        """
        if not type(self.model).__name__.endswith("ForSequenceClassification"):
            return False
        try:
            source = inspect.getsource(type(self.model).forward)
        except (OSError, TypeError):
            return True  # cannot tell: the safe (row by row) answer
        return "pad_token_id" in source

    @property
    def prepends_bos(self) -> bool:
        """Whether the tokenizer starts every input with a beginning-of-sequence token (BOS, or [CLS]).

        Causal LMs trained with a BOS often put much attention on it ("attention sink"); a tokenizer
        without one (GPT-2) starts on the first word, so the first word takes that role instead.
        """
        tok = self.tokenizer
        starts = {i for i in (tok.bos_token_id, tok.cls_token_id) if i is not None}
        try:
            ids = tok("a", add_special_tokens=True)["input_ids"]
        except Exception:  # noqa: BLE001 - a tokenizer that cannot encode "a" adds nothing we can tell
            return False
        return bool(ids) and ids[0] in starts

    @property
    def readout(self) -> str:
        """How a single score per input token is read off a token×token map for this model."""
        if self.pooling:
            return self.pooling
        if self.kind == "encoder" and self.pools_by_pad_token:
            return "last"  # a decoder's classification head (GPT-2, Llama…) reads the last token, not a [CLS]
        return {"decoder": "last", "encoder-decoder": "mean"}.get(self.kind, "cls")

    def describe(self) -> dict:
        return {
            "name": self.name, "kind": self.kind, "layers": self.num_layers, "heads": self.num_heads,
            "device": str(self.device), "dtype": str(self.dtype).replace("torch.", ""),
            "max_tokens": self.max_length, "pooling": self.pooling, "kv_groups": self.kv_groups,
            "bos_prepended": self.prepends_bos, "pad_token": self.tokenizer.pad_token is not None,
            "chat_template": self.has_chat_template,
            "attention_capture": "attnviz (sdpa unless weights are asked for)" if self.captures_natively
            else f"eager output_attentions ({self.eager_reason})",
        }

    # --------------------------------------------------------------- encoding
    def encode(self, text: str, text_pair: str | None = None, *, max_length: int | None = None,
               chat_template: bool = False) -> Encoding:
        """Tokenise one input up to ``max_length`` (at most the model's own limit); see :class:`Encoding`.

        ``chat_template``: ``text`` is a user message put through the tokenizer's chat template (see
        :func:`attnviz.models.encoding.encode_chat`; the template's tokens are kind "special").
        """
        limit = min(max_length or self.max_length, self.max_length)
        if chat_template:
            if text_pair:
                raise InputError("A chat message is one text: leave the second sentence empty with the chat template.")
            return encode_chat(self.tokenizer, text, max_length=limit, device=self.device)
        return encode(self.tokenizer, text, text_pair, max_length=limit, device=self.device)

    @property
    def has_chat_template(self) -> bool:
        """Whether ``chat_template=True`` is available (the tokenizer carries a chat template)."""
        return has_chat_template(self.tokenizer)

    # --------------------------------------------------------------- forward
    def forward(self, inputs: dict, *, capture_sites=None, need_weights: bool = True, buffers=None, reduce=None,
                body_only: bool = False):
        """Run the model once; returns (outputs, {AttentionSite: weights[b, h, q, k]}).

        ``body_only``: run the base model without its head (a causal LM's logits are n × vocabulary floats:
        1 GB at 8,192 tokens and 30k words; attention does not need them).

        ``reduce``: bounded memory (models that capture natively): ``reduce(site, KeptAttention)`` is called
        for each wanted site instead of recording its weights (see :class:`attnviz.models.capture.Capture`).

        ``capture_sites``: a predicate on AttentionSite choosing whose weights to keep (None = all).
        ``buffers``: optional {AttentionSite: float32 tensor [b, h, q, k]} to compute the weights in.
        """
        sites = self.attention_sites()
        records = {}
        try:
            with torch.inference_mode():
                if not need_weights:
                    return self.model(**inputs), {}
                if self.captures_natively:
                    wanted = {key for key, s in sites.items() if capture_sites is None or capture_sites(s)}
                    by_call = {key: buffers[s] for key, s in sites.items() if buffers and s in buffers}
                    on_call = None if reduce is None else (lambda key, kept: reduce(sites[key], kept))
                    model = self.model.base_model if body_only else self.model
                    with _capture.capture(lambda key: key in wanted, by_call, reduce=on_call) as cap:
                        out = model(**inputs)
                    for key, _module, weights in cap.records:
                        records[sites[key]] = weights
                else:
                    out = self.model(**inputs, output_attentions=True)
                    records = self._eager_records(out, capture_sites)
        except torch.OutOfMemoryError as exc:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise ResourceError(
                f"The {self.device.type.upper()} ran out of memory for this input. Try fewer layers, a shorter "
                "text, or load the model on the CPU.", retry_on_cpu=self.device.type != "cpu",
            ) from exc
        return out, records

    def _eager_records(self, out, capture_sites):
        records = {}
        groups = [("self", getattr(out, "attentions", None))]
        if self.kind == "encoder-decoder":
            groups = [("self", out.encoder_attentions), ("decoder", out.decoder_attentions),
                      ("cross", out.cross_attentions)]
        for stack, tensors in groups:
            if tensors is None or any(t is None for t in tensors):
                raise ModelLoadError(f"{self.name} returned no attention weights even on the eager path.")
            for layer, weights in enumerate(tensors):
                site = AttentionSite(stack, layer)
                if capture_sites is None or capture_sites(site):
                    records[site] = weights
        return records

    def attention_sites(self) -> dict[_capture.CallKey, AttentionSite]:
        """Which attention call is which layer of which stack, learnt once from a 3-token forward.

        Keys are call keys (module id, how many times that module ran before in the forward), so a
        module shared by several layers (ALBERT) names one layer per call. Encoder and decoder inputs of
        different lengths tell self, decoder and cross attention apart by shape, whatever the modules
        are called. A model whose attention modules do not all go through the attention interface
        (MPNet, DeBERTa-v2, BLOOM's ALiBi...) reports fewer layers than it has: it is switched to the
        eager path here, once, and this returns {}.
        """
        if self._sites is not None or not self.captures_natively:
            return self._sites or {}
        with self._lock:
            if self._sites is not None or not self.captures_natively:
                return self._sites or {}
            inputs = self._probe_inputs()
            try:
                with torch.inference_mode(), _capture.capture() as cap:
                    self.model(**inputs)
            except Exception as exc:  # noqa: BLE001 - any failure of the custom path: the eager path
                self._switch_to_eager(f"its forward fails with attnviz's implementation ({type(exc).__name__})")
                return {}
            sites: dict[_capture.CallKey, AttentionSite] = {}
            counts: dict[str, int] = {}
            for key, _module, weights in cap.records:
                q, k = weights.shape[-2:]
                stack = "self" if (q, k) == (3, 3) else "decoder" if (q, k) == (2, 2) else "cross"
                sites[key] = AttentionSite(stack, counts.get(stack, 0))
                counts[stack] = counts.get(stack, 0) + 1
            if not sites:
                self._switch_to_eager("no attention module reported weights through the attention interface")
                return {}
            if counts.get("self", 0) < self.num_layers:
                self._switch_to_eager(f"only {counts.get('self', 0)} of {self.num_layers} layers reported weights "
                                      "through the attention interface")
                return {}
            self._heads = int(cap.records[0][2].shape[1])
            self._sites = sites
            return sites

    def _probe_inputs(self) -> dict:
        ids = torch.tensor([[self._some_token_id()] * 3], device=self.device)
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        if self.kind == "encoder-decoder":
            inputs["decoder_input_ids"] = ids[:, :2]
        return inputs

    def _switch_to_eager(self, reason: str) -> None:
        """Run this model on the eager path from now on (``output_attentions``), checking it reports weights."""
        try:
            if getattr(self.model, "_can_set_attn_implementation", lambda: True)():
                self.model.set_attn_implementation("eager")
            # Models that do not follow the attention interface (BLOOM, MPNet...) only warn and keep the
            # old setting, which still shapes their masks (sdpa-style): set it on every config directly.
            for module in self.model.modules():
                config = getattr(module, "config", None)
                if isinstance(config, PretrainedConfig) and config._attn_implementation != "eager":
                    config._attn_implementation = "eager"
        except Exception as exc:  # noqa: BLE001 - a model that cannot switch is refused with a reason
            raise ModelLoadError(f"{self.name}: {reason}, and it cannot switch to eager attention "
                                 f"({type(exc).__name__}: {str(exc)[:200]}).") from exc
        self.captures_natively = False
        self.eager_reason = reason
        self._sites = None
        try:
            with torch.inference_mode():
                out = self.model(**self._probe_inputs(), output_attentions=True)
        except Exception as exc:  # noqa: BLE001 - typed error, never a raw exception
            raise ModelLoadError(f"{self.name}: {reason}, and its eager forward fails "
                                 f"({type(exc).__name__}: {str(exc)[:200]}).") from exc
        records = self._eager_records(out, None)  # raises ModelLoadError when the eager path has none either
        if records:
            self._heads = int(next(iter(records.values())).shape[1])

    def _some_token_id(self) -> int:
        tok = self.tokenizer
        for cand in (tok.unk_token_id, tok.eos_token_id, tok.bos_token_id, 0):
            if cand is not None:
                return int(cand)
        return 0

    # ------------------------------------------------------------- public API
    def attention(self, text: str, text_pair: str | None = None, *, target: str | None = None,
                  layers=None, bounded: bool | None = None, progress=None, chat_template: bool = False):
        """Per-layer, per-head attention for ``text`` (and ``text_pair``): see :class:`AttentionResult`.

        ``chat_template=True``: ``text`` is a user message put through the tokenizer's chat template; the
        template's tokens are kind "special" (``result.without_special()`` hides them). InputError when the
        tokenizer has none. Always the full-weights path (the bounded one reads plain text only).

        Inputs whose full weights would not fit (see :func:`attnviz.bounded.applies`; ``bounded=True`` forces
        it) get a :class:`~attnviz.bounded.LongAttentionResult`: summaries, and any head's full weights on
        request (``result.head(layer, head)``). ``progress(fraction, what)`` follows that path's layers.
        """
        if chat_template:
            return extract_attention(self, text, text_pair, target=target, layers=layers, chat_template=True)
        if bounded is None:
            bounded = target is None and bounded_path.applies(self, text, text_pair, layers=layers)
        if bounded:
            return bounded_path.extract_bounded(self, text, text_pair, layers=layers, progress=progress)
        return extract_attention(self, text, text_pair, target=target, layers=layers)

    def attribute(self, text: str, method: str = "integrated_gradients", *, target=None,
                  text_pair: str | None = None, chat_template: bool = False, **settings):
        """Per-token attribution of ``target`` (None: the model's prediction): see :mod:`attnviz.attribution`.

        ``chat_template=True``: ``text`` is a user message through the tokenizer's chat template (see
        :meth:`attention`); the template's tokens are scored too, kind "special".
        """
        if chat_template:
            check_method(method)
            return run_attribution(prepare(self, text, text_pair, target, chat_template=True), method, **settings)
        return attribute(self, text, method, target=target, text_pair=text_pair, **settings)

    def __repr__(self) -> str:
        return f"ModelHandle({self.name!r}, kind={self.kind}, device={self.device}, dtype={self.dtype})"


def _pad_for_batches(model, tokenizer) -> None:
    """A classifier that finds each row's last token through ``config.pad_token_id`` (GPT-2, Llama, ... heads)
    refuses batches when it has none: give this model's own config the id batches are padded with
    (:func:`~attnviz.models.encoding.pad_token_id`: the tokenizer's pad, else its end of sequence). The
    tokenizer, which other code may share, is left as it is."""
    config = model.config
    if type(model).__name__.endswith("ForSequenceClassification") and getattr(config, "pad_token_id", 0) is None:
        config.pad_token_id = pad_token_id(tokenizer)


def _max_length(tokenizer, config) -> int:
    candidates = [getattr(config, a, None) for a in ("max_position_embeddings", "n_positions", "max_seq_len")]
    candidates = [int(c) for c in candidates if isinstance(c, int) and c > 0]
    tml = getattr(tokenizer, "model_max_length", None)
    if isinstance(tml, int) and 0 < tml < 1_000_000:
        candidates.append(tml)
    return min(candidates) if candidates else 512


def load_model(name: str | os.PathLike | None = None, *, device: str | None = None, dtype: str | None = None,
               revision: str | None = None, trust_remote_code: bool | None = None,
               offline: bool = False, policy: ModelPolicy | None = None,
               device_map: str | dict | None = None) -> ModelHandle:
    """Load a model by hub id or directory (``None``: the bundled all-MiniLM-L6-v2, fully offline).

    Args:
        name: hub id ("bert-base-uncased"), local directory, or None for the bundled default.
        device: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:1", "mps".
        dtype: "float32" (default) or, on a GPU, "float16"/"bfloat16".
        revision: a hub revision (branch, tag or commit) to pin.
        trust_remote_code: None follows the operator's launch setting (env ATTNVIZ_TRUST_REMOTE_CODE).
        offline: never reach the hub, whatever HF_HUB_OFFLINE says (the local cache and directories only).
        policy: which models may load; None reads the operator's settings (:mod:`attnviz.operator`:
            allowed hub ids, model roots, size limit), which restrict nothing unless set.
        device_map: a model too big for one GPU: "auto" (or "balanced", "sequential", a
            {module: device} dict) spreads its layers over the GPUs (and CPU) through accelerate, which
            must be installed. Inputs go to the embedding's device; every result comes back on the CPU.
            ``device`` is then only used to check ``dtype``.

    Raises:
        InputError: a malformed name, device or dtype.
        ModelLoadError: the model is not allowed by the operator or over its size limit, cannot be found
            offline, needs remote code, or has no safetensors weights.
    """
    policy = ModelPolicy.from_env() if policy is None else policy
    if not is_default_name(name):
        policy.check_name(str(name))  # before the disk is looked at: one message for a path there or not
    resolved = resolve_name(name, hub_only=policy.model_dirs is not None)
    if policy.max_model_bytes is not None and not is_default_name(name):
        policy.check_size(resolved.display_name, weights_bytes(resolved, revision, offline))
    trc = operator_trusts_remote_code() if trust_remote_code is None else bool(trust_remote_code)
    dev = pick_device(device)
    torch_dtype = pick_dtype(dtype, dev)
    config = load_config(resolved, revision=revision, trust_remote_code=trc, local_files_only=offline)
    refused = _families.refusal(getattr(config, "model_type", ""))
    if refused:
        raise ModelLoadError(f"attnviz does not support '{resolved.display_name}' ({config.model_type}): {refused}")
    if is_vision_config(config):  # an image model: its own handle (attnviz.vision.handle)
        if device_map is not None:
            raise InputError("device_map applies to text models; load an image model with device=... instead.")
        return _vision.load_vision_model(resolved, config, device=dev, dtype=torch_dtype, revision=revision,
                                         trust_remote_code=trc, offline=offline)
    eager_reason = _families.eager_only(getattr(config, "model_type", ""))
    model_class = choose_model_class(config)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.source, revision=revision, trust_remote_code=trc,
                                                  local_files_only=offline)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Could not load a tokenizer for '{resolved.display_name}': {exc}") from exc
    kwargs = dict(revision=revision, trust_remote_code=trc, use_safetensors=True, dtype=torch_dtype,
                  local_files_only=offline, **_device_map_kwargs(device_map))
    try:
        try:
            implementation = "eager" if eager_reason else _capture.IMPLEMENTATION
            model = model_class.from_pretrained(resolved.source, attn_implementation=implementation, **kwargs)
        except (OSError, torch.OutOfMemoryError):
            raise
        except Exception:  # noqa: BLE001 - any failure to take our implementation (Falcon: KeyError): eager
            model = model_class.from_pretrained(resolved.source, attn_implementation="eager", **kwargs)
    except OSError as exc:
        msg = str(exc)
        if "safetensors" in msg.lower() or ".bin" in msg or "pytorch_model" in msg:
            raise ModelLoadError(
                f"'{resolved.display_name}' has no safetensors weights. attnviz never unpickles checkpoints: "
                "convert it once with `model.save_pretrained(dir, safe_serialization=True)` in a trusted place."
            ) from exc
        raise ModelLoadError(_load_failed(resolved.display_name, exc)) from exc
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(_load_failed(resolved.display_name, exc)) from exc
    except torch.OutOfMemoryError as exc:
        raise ResourceError(f"{resolved.display_name} does not fit in {dev} memory.", retry_on_cpu=True) from exc
    except Exception as exc:  # anything else (remote code, a family's own bug): still a typed error
        if trc:
            raise remote_code_failed(resolved.display_name, exc) from exc
        raise ModelLoadError(_load_failed(resolved.display_name, exc)) from exc
    if device_map is None:
        model.to(dev)
    else:
        dev = _placed_device(model, resolved.display_name)
    handle = ModelHandle(model, tokenizer, name=resolved.display_name, kind=model_kind(config),
                         pooling=sentence_pooling(resolved, revision, offline), device=dev,
                         sentence_max_length=sentence_max_length(resolved, revision, offline))
    if eager_reason:
        handle.eager_reason = eager_reason
    handle.attention_sites()  # learn the sites now: a model that reports no weights switches to eager here
    return handle


def from_pretrained_model(model, tokenizer, *, name: str | None = None, pooling: str | None = None) -> ModelHandle:
    """Wrap a model the caller already loaded (any attention implementation).

    The model is switched to attnviz's capture-capable implementation (sdpa-speed when no weights are
    asked for); models that cannot take it are switched to eager.
    """
    try:
        model.set_attn_implementation(_capture.IMPLEMENTATION)
    except Exception:  # noqa: BLE001 - any failure to take our implementation: eager
        model.set_attn_implementation("eager")
    dev = next(model.parameters()).device
    return ModelHandle(model, tokenizer, name=name or getattr(model.config, "_name_or_path", "custom") or "custom",
                       kind=model_kind(model.config), pooling=pooling, device=dev)


def _device_map_kwargs(device_map) -> dict:
    """``device_map`` for from_pretrained, checked: accelerate must be importable to place the layers."""
    if device_map is None:
        return {}
    if not isinstance(device_map, (str, dict)) or (isinstance(device_map, str) and not device_map.strip()):
        raise InputError("device_map must be 'auto', 'balanced', 'sequential', a device name or a "
                         "{module: device} dict.")
    if importlib.util.find_spec("accelerate") is None:  # transformers places the layers through it
        raise ModelLoadError("device_map needs the 'accelerate' package: `pip install accelerate` (or load the "
                             "model on one device with device=...).")
    return {"device_map": device_map}


def _placed_device(model, name: str) -> torch.device:
    """Where a model spread by ``device_map`` takes its inputs: its input embedding's device.

    accelerate's hooks move activations between the layers' devices and the outputs back to the inputs'
    device. Layers offloaded to disk or left on the meta device are refused (their weights are not loaded).
    """
    placed = set(map(str, (getattr(model, "hf_device_map", None) or {}).values()))
    if placed & {"disk", "meta"}:
        raise ResourceError(f"{name} does not fit in the devices' memory: device_map put layers on disk, "
                            "which attnviz does not run. Use more GPUs, half precision or a smaller model.")
    return model.get_input_embeddings().weight.device


def _load_failed(name: str, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return f"Could not load '{name}': {first}"
