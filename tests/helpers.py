"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
ARTIFACTS = ROOT / "tests" / "artifacts"
"""Screenshots and other outputs a person may want to look at after a run (git-ignored)."""


def random_sentence(rng: np.random.Generator, words: int = 8) -> str:
    """Fresh input text: random vocabulary words, so tests never rely on one hand-picked sentence."""
    pool = ["river", "engineer", "quietly", "bright", "table", "seven", "music", "under", "paper", "storm",
            "walked", "green", "because", "city", "never", "open", "heavy", "dog", "sings", "winter", ",", "."]
    return " ".join(rng.choice(pool, size=words)).capitalize()


# ------------------------------------------------------------------ pages through Streamlit's AppTest
def open_page(page: str | None = None, model_key=None, timeout: float = 300) -> AppTest:
    """The app as a visitor opens it: app.py's first run (the Attention page), then ``page`` (e.g.
    ``"attribution"``) through the navigation. ``model_key`` is what the sidebar's "Load model" stores."""
    from streamlit.testing.v1 import AppTest

    from attnviz.ui import MODEL_KEY

    at = AppTest.from_file(APP, default_timeout=timeout)
    if model_key is not None:
        at.session_state[MODEL_KEY] = model_key
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py").run()
    return at


def open_link(query: dict | None = None, page: str | None = None, timeout: float = 300) -> AppTest:
    """A first visit straight to ``page`` (default: the Attention page) with a link's query parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    if page is not None:
        at.switch_page(f"pages/{page}.py")
    at.query_params.update(query or {})
    return at.run()


def click(at: AppTest, label: str) -> AppTest:
    """Click the first button labelled ``label`` and rerun."""
    next(b for b in at.button if b.label == label).click()
    return at.run()


def chart_specs(at: AppTest) -> list[dict]:
    """Every plotly chart on the page, parsed. Check values, never the raw JSON text: how it escapes
    non-ASCII ("·" or "\\u00b7") depends on whether orjson is installed."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def strings_in(spec: dict) -> str:
    """Every string value in a parsed chart spec (titles, tick labels, trace names...), one per line."""
    found: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(spec)
    return "\n".join(found)


def z_of(spec: dict, trace: int = 0, field: str = "z") -> np.ndarray:
    """A trace's ``field`` (a heatmap's z by default) as floats (plotly may store it as a base64 typed array)."""
    z = spec["data"][trace][field]
    if isinstance(z, dict):
        shape = tuple(int(v) for v in str(z.get("shape", -1)).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape).astype(float)
    return np.asarray(z, dtype=float)


# ------------------------------------------------------------------ tiny models of any family
TINY_WORDS = ["river", "engineer", "quietly", "bright", "table", "seven", "music", "under", "paper", "storm",
              "walked", "green", "because", "city", "never", "open", "heavy", "dog", "sings", "winter",
              "the", "cat", "sat", "on", "mat", "a", "and", "is", "was", "it", "of", "to", "in"]
TINY_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>"]


def small_tokenizer(max_length: int = 64):
    """A WordPiece tokenizer of ~150 ids (specials, characters, a few words), built offline.

    Ids: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, <s>=5, </s>=6; it adds [CLS] … [SEP]."""
    import string

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = TINY_SPECIALS + chars + ["##" + c for c in string.ascii_lowercase + string.digits] + TINY_WORDS
    ids = {t: i for i, t in enumerate(dict.fromkeys(vocab))}
    core = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    core.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=max_length, pad_token="[PAD]",
                                   unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   bos_token="<s>", eos_token="</s>")


def eager_attentions(source, inputs, arch: str | None = None) -> np.ndarray:
    """[layers, heads, n, n] of the model's own eager ``output_attentions`` (loaded independently)."""
    import torch
    import transformers

    cls = getattr(transformers, arch) if arch else transformers.AutoModel
    model = cls.from_pretrained(str(source), attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(**inputs, output_attentions=True)
    return torch.stack([t[0] for t in out.attentions]).numpy()
