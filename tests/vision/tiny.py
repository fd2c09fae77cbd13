"""Tiny random vision transformers saved with an image processor (no download): one per family."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin
from transformers import (
    AutoTokenizer,
    BeitConfig,
    BeitForImageClassification,
    BertConfig,
    BitImageProcessor,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    Data2VecVisionConfig,
    Data2VecVisionForImageClassification,
    DeiTConfig,
    DeiTForImageClassificationWithTeacher,
    Dinov2WithRegistersConfig,
    Dinov2WithRegistersModel,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
    SwinConfig,
    SwinModel,
    VisionEncoderDecoderConfig,
    VisionEncoderDecoderModel,
    ViTConfig,
    ViTForImageClassification,
    ViTImageProcessor,
)

COMMON = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4)
LABELS = {0: "cat", 1: "dog", 2: "boat"}


def save_tiny(family: str, root: Path) -> Path:
    """Save a tiny random ``family`` model ("vit", "deit", "dinov2", "swin", "siglip") with its processor under ``root``."""
    torch.manual_seed(0)
    path = root / family
    if family == "vit":
        model = ViTForImageClassification(ViTConfig(**COMMON, intermediate_size=64, id2label=LABELS,
                                                    label2id={v: k for k, v in LABELS.items()}))
        processor = ViTImageProcessor(size={"height": 32, "width": 32})
    elif family == "deit":
        model = DeiTForImageClassificationWithTeacher(DeiTConfig(**COMMON, intermediate_size=64, num_labels=3))
        processor = ViTImageProcessor(size={"height": 32, "width": 32})
    elif family == "dinov2":
        model = Dinov2WithRegistersModel(Dinov2WithRegistersConfig(**COMMON, num_register_tokens=2))
        processor = BitImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32},
                                      image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    elif family == "clip":  # the bundled MiniLM's tokenizer (BERT wordpieces): [SEP] ends a caption
        from attnviz.models.loading import default_model_path
        model = CLIPModel(CLIPConfig(
            text_config=dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=64, max_position_embeddings=32, eos_token_id=102),
            vision_config=dict(**COMMON, intermediate_size=64), projection_dim=16))
        processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        AutoTokenizer.from_pretrained(default_model_path()).save_pretrained(path)
    elif family == "captioner":  # a ViT encoder and a BERT decoder with cross-attention
        from attnviz.models.loading import default_model_path
        config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
            ViTConfig(**COMMON, intermediate_size=64),
            BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=64, max_position_embeddings=64))
        config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 101, 0, 102
        model = VisionEncoderDecoderModel(config)
        processor = ViTImageProcessor(size={"height": 32, "width": 32})
        AutoTokenizer.from_pretrained(default_model_path()).save_pretrained(path)
    elif family in ("beit", "data2vec-vision"):  # relative position bias in every layer
        config_cls, model_cls = ((BeitConfig, BeitForImageClassification) if family == "beit" else
                                 (Data2VecVisionConfig, Data2VecVisionForImageClassification))
        model = model_cls(config_cls(**COMMON, intermediate_size=64, use_relative_position_bias=True,
                                     num_labels=3))
        processor = ViTImageProcessor(size={"height": 32, "width": 32})
    elif family == "siglip":  # image–text without [CLS] (attention-pooling head): refused
        model = SiglipModel(SiglipConfig(
            text_config=dict(vocab_size=128, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                             intermediate_size=64, max_position_embeddings=16),
            vision_config=dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=4, intermediate_size=64)))
        processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    elif family == "swin":
        model = SwinModel(SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1], num_heads=[2],
                                     window_size=4))
        processor = ViTImageProcessor(size={"height": 32, "width": 32})
    else:
        raise ValueError(family)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def png_bytes(array: np.ndarray, **text: str) -> bytes:
    """``array`` as PNG file bytes, with ``text`` as tEXt metadata chunks (e.g. Comment="...")."""
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def declared_size(png: bytes, width: int, height: int) -> bytes:
    """The same PNG with its header (IHDR) declaring another size, CRC fixed: a decompression-bomb header."""
    data = struct.pack(">II", width, height) + png[24:29]
    chunk = b"IHDR" + data
    return png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]
