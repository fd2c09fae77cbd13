"""The handle of a vision transformer: ``model.attention(image)`` and ``model.attribute(image, ...)``.

``attnviz.load_model(dir)`` returns a :class:`VisionHandle` when the directory holds a vision transformer
(ViT, DeiT, BEiT, DINOv2 with or without registers) and its image processor. Attention weights come from
the same capture as text models (:mod:`attnviz.models.capture`): the model runs attnviz's attention
implementation and a per-thread scope records each layer's softmax(QKᵀ·s); a model whose layers do not all
report through it is switched to its eager path (``output_attentions``) once, at load.
"""

from __future__ import annotations

import numpy as np
import torch
import transformers
from transformers import AutoModel, AutoTokenizer, PreTrainedModel

from ..attention import AttentionResult
from ..errors import InputError, ModelLoadError, ResourceError
from ..models import capture as _capture
from ..models.loading import VISION_REFUSED, ResolvedName, load_image_processor
from . import attribution as _attribution
from . import evaluate as _evaluate
from .attribution import ImageTextSimilarity
from .images import ImageEncoding, patch_tokens, prefix_tokens, processor_pixels, read_image

__all__ = ["CaptionHandle", "ImageTextHandle", "VisionHandle", "load_vision_model"]


class VisionHandle:
    """A loaded vision transformer and its image processor (thread-safe: no per-request state).

    Example:
        >>> model = attnviz.load_model("path/to/vit")
        >>> result = model.attention("cat.png")
        >>> result.tokens[:2], result.patch_grid     # ('[CLS]', 'r0c0'), (14, 14)
    """

    modality = "image"
    kind = "vision"
    readout = "cls"
    pooling = None
    tokenizer = None
    kv_groups = None

    def __init__(self, model, processor, *, name: str, device: torch.device):
        self.model = model.eval()
        for param in model.parameters():
            param.requires_grad_(False)
        self.processor = processor
        self.name = name
        self.device = device
        self.dtype = next(model.parameters()).dtype
        self.config = model.config
        #: the vision tower and its config (the whole model for ViT-like ones; CLIP's ``vision_model``; the
        #: encoder of a vision encoder–decoder)
        self.vision, self.vision_config = _vision_tower(model)
        self.captures_natively = model.config._attn_implementation == _capture.IMPLEMENTATION
        self.eager_reason: str | None = None if self.captures_natively else "it does not take attnviz's implementation"
        self.labels: dict[int, str] = {int(k): str(v) for k, v in (getattr(self.config, "id2label", None) or {}).items()}
        self.is_classifier = type(model).__name__.endswith(("ForImageClassification", "ForImageClassificationWithTeacher"))
        self._n_prefix = self._probe()
        self.max_length = self._n_prefix + int(np.prod(self._grid_for(self._probe_pixels().shape)))

    # ------------------------------------------------------------------ facts
    @property
    def num_layers(self) -> int:
        return int(self.vision_config.num_hidden_layers)

    @property
    def num_heads(self) -> int:
        return int(self.vision_config.num_attention_heads)

    @property
    def patch_size(self) -> int:
        size = self.vision_config.patch_size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "layers": self.num_layers, "heads": self.num_heads,
                "device": str(self.device), "dtype": str(self.dtype).replace("torch.", ""),
                "max_tokens": self.max_length, "patch_size": self.patch_size,
                "classes": len(self.labels) if self.is_classifier else None,
                "attention_capture": "attnviz (sdpa unless weights are asked for)" if self.captures_natively
                else f"eager output_attentions ({self.eager_reason})"}

    def encode(self, image, *_args, **_kwargs) -> ImageEncoding:
        """One image (PIL, array, path or bytes) checked and preprocessed; see :class:`ImageEncoding`."""
        if isinstance(image, str) and not _looks_like_path(image):
            raise InputError(f"{self.name} is an image model: give it an image (a file, bytes, a PIL image or an "
                             "array), not text.")
        pixels, shown = processor_pixels(self.processor, read_image(image))
        rows, cols = self._grid_for(pixels.shape)
        prefix, kinds = prefix_tokens(self.vision_config.model_type, self._n_prefix,
                                      int(getattr(self.vision_config, "num_register_tokens", 0) or 0))
        return ImageEncoding(pixel_values=pixels.to(self.device, self.dtype), shown=shown,
                             tokens=prefix + patch_tokens(rows, cols), kinds=kinds + ("patch",) * (rows * cols),
                             patch_grid=(rows, cols), patch_size=self.patch_size)

    # --------------------------------------------------------------- forward
    def forward(self, pixel_values: torch.Tensor, *, need_weights: bool = True):
        """(model outputs, [layers] weights [b, h, n, n]) for a batch of preprocessed images."""
        try:
            with torch.inference_mode():
                return self._forward(pixel_values, need_weights)
        except torch.OutOfMemoryError as exc:
            raise ResourceError(f"The {self.device.type.upper()} ran out of memory for this image.",
                                retry_on_cpu=self.device.type != "cpu") from exc

    def _forward(self, pixel_values, need_weights):
        if not need_weights:
            return self.vision(pixel_values=pixel_values), []
        if self.captures_natively:
            with _capture.capture() as cap:
                out = self.vision(pixel_values=pixel_values)
            return out, [weights for _key, _module, weights in cap.records]
        out = self.vision(pixel_values=pixel_values, output_attentions=True)
        return out, list(out.attentions or ())

    def _probe_pixels(self) -> torch.Tensor:
        pixels, _ = processor_pixels(self.processor, read_image(np.zeros((32, 32, 3), np.uint8)))
        return pixels.to(self.device, self.dtype)

    def _grid_for(self, shape) -> tuple[int, int]:
        return int(shape[-2]) // self.patch_size, int(shape[-1]) // self.patch_size

    def _probe(self) -> int:
        """Check that every layer reports its weights (else switch to eager); the tokens before the patches."""
        pixels = self._probe_pixels()
        _, weights = self.forward(pixels)
        if len(weights) != self.num_layers:
            reason = f"only {len(weights)} of {self.num_layers} layers reported weights through the attention interface"
            try:
                self.model.set_attn_implementation("eager")
            except Exception as exc:  # noqa: BLE001 - a model that cannot switch is refused with a reason
                raise ModelLoadError(f"{self.name}: {reason}, and it cannot switch to eager attention.") from exc
            self.captures_natively, self.eager_reason = False, reason
            _, weights = self.forward(pixels)
            if len(weights) != self.num_layers:
                raise ModelLoadError(f"{self.name} returned no attention weights even on the eager path.")
        rows, cols = self._grid_for(pixels.shape)
        return int(weights[0].shape[-1]) - rows * cols

    # ------------------------------------------------------------- public API
    def attention(self, image, *_args, layers=None, **_kwargs) -> AttentionResult:
        """Per-layer, per-head attention over [CLS], registers and patches; ``result.patch_grid`` = (rows, cols)."""
        enc = self.encode(image)
        chosen = list(range(self.num_layers)) if layers is None else sorted({int(i) for i in layers})
        if not chosen or chosen[0] < 0 or chosen[-1] >= self.num_layers:
            raise InputError(f"Layers must lie in 0 … {self.num_layers - 1}.")
        _, weights = self.forward(enc.pixel_values)
        att = np.stack([weights[i][0].float().cpu().numpy() for i in chosen]).astype(np.float32)
        special = np.array([k in ("cls", "special") for k in enc.kinds])
        return AttentionResult(
            tokens=enc.tokens, attentions=att, layers=tuple(chosen), kinds=enc.kinds,
            segments=np.where(special, -1, 0).astype(np.int8), readout="cls", model_name=self.name,
            n_input_tokens=len(enc.tokens),
            meta={"modality": "image", "patch_grid": enc.patch_grid, "patch_size": enc.patch_size,
                  "image_size": tuple(enc.shown.shape[:2]), "device": str(self.device)})

    def predict(self, image) -> dict[str, float]:
        """Class probabilities of an image classifier, highest first."""
        return _attribution.class_probabilities(self, self.encode(image))

    def attribute(self, image, method: str = "integrated_gradients", *, target=None, **settings):
        """Patch-wise attribution of a class (None: the predicted one); see :mod:`attnviz.vision.attribution`."""
        return _attribution.attribute_image(self, self.encode(image), method, target=target, **settings)

    def evaluate(self, image, attributions: dict, **settings):
        """Agreement and faithfulness (patches replaced by the baseline) of ``attribute``'s results for ``image``;
        see :func:`attnviz.vision.evaluate.evaluate_image`."""
        return _evaluate.evaluate_image(self, self.encode(image), attributions, **settings)

    def __repr__(self) -> str:
        return f"VisionHandle({self.name!r}, device={self.device}, dtype={self.dtype})"


class ImageTextHandle(VisionHandle):
    """A dual encoder (CLIP): an image tower and a text tower whose embeddings are compared by cosine.

    ``attention(image)`` is the image tower's (as for ViT); ``text_attention(caption)`` the text tower's;
    ``similarity(image, captions)`` the explained numbers.
    """

    kind = "image-text"

    def __init__(self, model, processor, tokenizer, *, name: str, device: torch.device):
        super().__init__(model, processor, name=name, device=device)
        self.tokenizer = tokenizer
        self.text_config = model.config.text_config

    def _captions(self, captions) -> list[str]:
        captions = [captions] if isinstance(captions, str) else list(captions)
        if not captions or not all(isinstance(c, str) and c.strip() for c in captions):
            raise InputError("Give at least one non-empty caption.")
        if len(captions) > 32 or any(len(c) > 1000 for c in captions):
            raise InputError("At most 32 captions of at most 1,000 characters each.")
        return captions

    def _text_inputs(self, caption: str) -> dict:
        limit = int(self.text_config.max_position_embeddings)
        enc = self.tokenizer(caption, truncation=True, max_length=limit, return_tensors="pt")
        return {"input_ids": enc["input_ids"].to(self.device), "attention_mask": enc["attention_mask"].to(self.device)}

    def text_embedding(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return torch.nn.functional.normalize(out.float(), dim=-1)

    def image_embedding(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.model.get_image_features(pixel_values=pixel_values).pooler_output
        return torch.nn.functional.normalize(out.float(), dim=-1)

    def similarity(self, image, captions) -> ImageTextSimilarity:
        """The image's cosine similarity to each caption, the model's scaled logits and softmax over captions."""
        captions = self._captions(captions)
        enc = self.encode(image)
        with torch.inference_mode():
            image_vec = self.image_embedding(enc.pixel_values)[0]
            cosine = torch.stack([self.text_embedding(**self._text_inputs(c))[0] @ image_vec for c in captions])
            scale = float(self.model.logit_scale.exp())
        logits = (cosine * scale).cpu().numpy()
        probs = np.exp(logits - logits.max())
        return ImageTextSimilarity(captions=tuple(captions), cosine=cosine.cpu().numpy().astype(np.float32),
                                   logits=logits.astype(np.float32), probabilities=(probs / probs.sum()).astype(np.float32),
                                   logit_scale=scale, model_name=self.name)

    def text_attention(self, caption: str) -> AttentionResult:
        """The text tower's attention over one caption's tokens (causal in CLIP)."""
        (caption,) = self._captions([caption])
        inputs = self._text_inputs(caption)
        with torch.inference_mode():
            if self.captures_natively:
                with _capture.capture() as cap:
                    self.model.text_model(**inputs)
                weights = [w for _k, _m, w in cap.records]
            else:
                weights = list(self.model.text_model(**inputs, output_attentions=True).attentions)
        att = np.stack([w[0].float().cpu().numpy() for w in weights]).astype(np.float32)
        ids = inputs["input_ids"][0].tolist()
        tokens = tuple(self.tokenizer.convert_ids_to_tokens(ids))
        special = set(self.tokenizer.all_special_ids)
        kinds = tuple("special" if i in special else "text" for i in ids)
        return AttentionResult(tokens=tokens, attentions=att, layers=tuple(range(len(weights))), kinds=kinds,
                               segments=np.where(np.array([k == "special" for k in kinds]), -1, 0).astype(np.int8),
                               readout="last", causal=True, model_name=self.name, n_input_tokens=len(tokens),
                               meta={"modality": "text", "tower": "text"})

    def explain_similarity(self, image, caption: str) -> tuple:
        """(patch occlusion, token deletion) of the cosine similarity of ``image`` to ``caption``."""
        (caption,) = self._captions([caption])
        return _attribution.similarity_occlusion(self, self.encode(image), self._text_inputs(caption))


class CaptionHandle(VisionHandle):
    """A vision encoder–decoder (image captioning): ``caption(image)`` generates and shows where each word looked."""

    kind = "vision-encoder-decoder"

    def __init__(self, model, processor, tokenizer, *, name: str, device: torch.device):
        super().__init__(model, processor, name=name, device=device)
        self.tokenizer = tokenizer

    def caption(self, image, *, max_new_tokens: int = 20) -> AttentionResult:
        """Greedy caption of ``image`` with every attention of the decoding, as one :class:`AttentionResult`.

        ``tokens``/``attentions``: the image encoder's; ``decoder_tokens``: the generated words; row t of
        ``cross_attentions`` [layers, heads, words, image tokens] is the cross-attention of the step that
        produced word t (the decoder reading the start token and words 0 … t−1), the same row step-by-step
        generation computes; ``decoder_attentions`` likewise. ``meta["caption"]`` is the decoded text.
        """
        if not 1 <= int(max_new_tokens) <= 64:
            raise InputError("Generate between 1 and 64 tokens.")
        enc = self.encode(image)
        with torch.inference_mode():
            ids = self.model.generate(pixel_values=enc.pixel_values, max_new_tokens=int(max_new_tokens),
                                      do_sample=False, num_beams=1)
            if ids.shape[1] < 2:
                raise InputError("The model generated nothing for this image.")
            encoder, decoder, cross = _decoding_attentions(self, enc.pixel_values, ids[:, :-1])

        def stack(tensors):
            return np.stack([t[0].float().cpu().numpy() for t in tensors]).astype(np.float32)

        words = tuple(self.tokenizer.convert_ids_to_tokens(ids[0, 1:].tolist()))
        special = set(self.tokenizer.all_special_ids)
        image_special = np.array([k in ("cls", "special") for k in enc.kinds])
        return AttentionResult(
            tokens=enc.tokens, attentions=stack(encoder), layers=tuple(range(self.num_layers)),
            kinds=enc.kinds, segments=np.where(image_special, -1, 0).astype(np.int8), readout="cls",
            model_name=self.name, n_input_tokens=len(enc.tokens), decoder_tokens=words,
            decoder_kinds=tuple("special" if i in special else "text" for i in ids[0, 1:].tolist()),
            decoder_attentions=stack(decoder), cross_attentions=stack(cross),
            meta={"modality": "image", "patch_grid": enc.patch_grid, "patch_size": enc.patch_size,
                  "caption": self.tokenizer.decode(ids[0], skip_special_tokens=True),
                  "rows": "row t: the step that produced word t"})


def _decoding_attentions(handle, pixel_values, decoder_ids):
    """(encoder, decoder self, cross) weights per layer of one teacher-forced forward.

    Captured: calls come in forward order, the encoder's layers first, then per decoder layer its self- and
    its cross-attention (the key length tells them apart; the order does when it is the same).
    """
    if not handle.captures_natively:
        out = handle.model(pixel_values=pixel_values, decoder_input_ids=decoder_ids, output_attentions=True)
        return out.encoder_attentions, out.decoder_attentions, out.cross_attentions
    with _capture.capture() as cap:
        handle.model(pixel_values=pixel_values, decoder_input_ids=decoder_ids)
    weights = [w for _k, _m, w in cap.records]
    encoder, rest = weights[:handle.num_layers], weights[handle.num_layers:]
    m, n = decoder_ids.shape[1], encoder[0].shape[-1]
    decoder, cross = rest[0::2], rest[1::2]
    if not decoder or len(decoder) != len(cross) or any(w.shape[-1] != m for w in decoder) or \
            any(w.shape[-1] != n for w in cross):
        raise ModelLoadError(f"{handle.name}: its decoder's attention calls are not self then cross per layer.")
    return encoder, decoder, cross


def _vision_tower(model):
    if hasattr(model, "text_model") and hasattr(model, "vision_model"):
        return model.vision_model, model.config.vision_config
    if getattr(model.config, "model_type", "") == "vision-encoder-decoder":
        return model.encoder, model.config.encoder
    return model, model.config


def _looks_like_path(text: str) -> bool:
    return len(text) < 4096 and "\n" not in text and text.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))


def _model_class(config):
    """The class named in config.architectures when transformers has it (keeps DeiT's distillation head)."""
    arch = (getattr(config, "architectures", None) or [""])[0]
    cls = getattr(transformers, arch, None) if arch.isidentifier() else None
    if isinstance(cls, type) and issubclass(cls, PreTrainedModel) and \
            getattr(cls.config_class, "model_type", None) == config.model_type:
        return cls
    return AutoModel


def load_vision_model(resolved: ResolvedName, config, *, device: torch.device, dtype: torch.dtype,
                      revision: str | None, trust_remote_code: bool, offline: bool) -> VisionHandle:
    """Load a vision transformer directory (or hub id) with its image processor; see ``attnviz.load_model``."""
    refused = VISION_REFUSED.get(config.model_type)
    if refused:
        raise ModelLoadError(f"attnviz does not support '{resolved.display_name}' ({config.model_type}): {refused}")
    processor = load_image_processor(resolved, revision=revision, local_files_only=offline)
    tokenizer = None
    if hasattr(config, "text_config") or hasattr(config, "decoder"):
        try:
            tokenizer = AutoTokenizer.from_pretrained(resolved.source, revision=revision, local_files_only=offline)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"Could not load the tokenizer of the image–text model '{resolved.display_name}': "
                                 f"{str(exc)[:200]}") from exc
    cls = _model_class(config)
    kwargs = dict(revision=revision, trust_remote_code=trust_remote_code, use_safetensors=True, dtype=dtype,
                  local_files_only=offline)
    try:
        try:
            model = cls.from_pretrained(resolved.source, attn_implementation=_capture.IMPLEMENTATION, **kwargs)
        except (OSError, torch.OutOfMemoryError):
            raise
        except Exception:  # noqa: BLE001 - a model that does not take our implementation: eager
            model = cls.from_pretrained(resolved.source, attn_implementation="eager", **kwargs)
    except OSError as exc:
        raise ModelLoadError(f"Could not load '{resolved.display_name}' (safetensors weights only): "
                             f"{str(exc).strip()[:300]}") from exc
    except torch.OutOfMemoryError as exc:
        raise ResourceError(f"{resolved.display_name} does not fit in {device} memory.", retry_on_cpu=True) from exc
    except Exception as exc:  # noqa: BLE001 - still a typed error
        raise ModelLoadError(f"Could not load '{resolved.display_name}': {str(exc).strip()[:300]}") from exc
    if hasattr(config, "decoder"):
        return CaptionHandle(model.to(device), processor, tokenizer, name=resolved.display_name, device=device)
    if tokenizer is not None:
        return ImageTextHandle(model.to(device), processor, tokenizer, name=resolved.display_name, device=device)
    return VisionHandle(model.to(device), processor, name=resolved.display_name, device=device)
