"""Shared fixtures: the bundled model and tiny random models of each family, built from configs.

Nothing is downloaded: tiny models reuse the bundled MiniLM tokenizer (BERT WordPiece, 30,522 ids).
"""

from __future__ import annotations

import functools
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pytest
import torch

import attnviz
from attnviz.models.loading import default_model_path

VOCAB = 30522


def pytest_configure(config):
    _scan_streamlit_components_once()


def _scan_streamlit_components_once():
    """Every AppTest run has Streamlit scan all installed distributions' metadata (~650 here) for v2
    component manifests: 1–3 s per run, most of a cached page's run time. The installed set cannot change
    during a test session, so the scan runs once and each AppTest gets the same result (a fresh list)."""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:  # a Streamlit without v2 components: nothing to cache
        return
    scan = manifest_scanner.scan_component_manifests
    if hasattr(scan, "cache_info"):
        return
    once = functools.cache(scan)
    manifest_scanner.scan_component_manifests = functools.wraps(scan)(lambda *a, **k: list(once(*a, **k)))
    manifest_scanner.scan_component_manifests.cache_info = once.cache_info


@pytest.fixture(scope="session")
def default_handle():
    return attnviz.load_model()


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(default_model_path()))


def _tiny_configs():
    from transformers import BartConfig, BertConfig, GPT2Config, T5Config

    common = dict(vocab_size=VOCAB)
    return {
        "bert": ("BertModel", BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=64, max_position_embeddings=128, **common)),
        "bert-classifier": ("BertForSequenceClassification",
                            BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                       intermediate_size=64, max_position_embeddings=128, num_labels=3, **common)),
        "bert-mlm": ("BertForMaskedLM",
                     BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=64, max_position_embeddings=128, **common)),
        "gpt2": ("GPT2LMHeadModel", GPT2Config(n_embd=32, n_layer=3, n_head=4, n_positions=128, **common)),
        "bart": ("BartForConditionalGeneration",
                 BartConfig(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                            decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                            max_position_embeddings=128, pad_token_id=0, bos_token_id=101, eos_token_id=102,
                            decoder_start_token_id=102, forced_eos_token_id=None, **common)),
        "t5": ("T5ForConditionalGeneration",
               T5Config(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
                        pad_token_id=0, eos_token_id=102, decoder_start_token_id=0, **common)),
    }


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory, tokenizer):
    """{family: directory} of tiny random models saved as safetensors with a tokenizer."""
    import transformers

    dirs = {}
    torch.manual_seed(0)
    for family, (arch, config) in _tiny_configs().items():
        model = getattr(transformers, arch)(config).eval()
        path = tmp_path_factory.mktemp(family)
        model.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)
        dirs[family] = path
    return dirs


@pytest.fixture
def rng(request):
    seed = abs(hash(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)
