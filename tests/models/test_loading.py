import json

import pytest
import torch

import attnviz
from attnviz.errors import InputError, ModelLoadError
from attnviz.models.loading import choose_model_class, pick_device, pick_dtype, resolve_name


def test_default_model_is_bundled_minilm(default_handle):
    info = default_handle.describe()
    assert info["layers"] == 6 and info["heads"] == 12
    assert info["pooling"] == "mean" and info["kind"] == "encoder"
    assert default_handle.name == attnviz.DEFAULT_MODEL_ID
    assert default_handle.captures_natively


def test_hub_id_of_default_resolves_to_bundled_copy():
    assert resolve_name("sentence-transformers/all-MiniLM-L6-v2").is_local


@pytest.mark.parametrize("family,kind,cls_name", [
    ("bert", "encoder", "BertModel"),
    ("bert-classifier", "encoder", "BertForSequenceClassification"),
    ("gpt2", "decoder", "GPT2LMHeadModel"),
    ("bart", "encoder-decoder", "BartForConditionalGeneration"),
    ("t5", "encoder-decoder", "T5ForConditionalGeneration"),
])
def test_local_directories_load_with_their_head(tiny_model_dirs, family, kind, cls_name):
    handle = attnviz.load_model(tiny_model_dirs[family])
    assert handle.kind == kind
    assert type(handle.model).__name__ == cls_name
    assert handle.pooling is None


@pytest.mark.parametrize("bad", ["", "   ", "a b c", "../../etc/passwd", "x" * 300, "<script>"])
def test_malformed_ids_are_input_errors(bad):
    if bad.strip() == "":
        assert resolve_name(bad).is_local  # empty means the default
        return
    with pytest.raises((InputError, ModelLoadError)):
        attnviz.load_model(bad)


def test_unknown_model_offline_says_what_to_do():
    with pytest.raises(ModelLoadError) as err:
        attnviz.load_model("nobody-here/no-such-model-xyz")
    assert "not in the local Hugging Face cache" in str(err.value)
    assert "hf download" in str(err.value)


def test_remote_code_is_refused_unless_operator_enabled(tiny_model_dirs, tmp_path, monkeypatch):
    import shutil

    target = tmp_path / "remote"
    shutil.copytree(tiny_model_dirs["bert"], target)
    cfg = json.loads((target / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (target / "config.json").write_text(json.dumps(cfg))
    (target / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    monkeypatch.delenv("ATTNVIZ_TRUST_REMOTE_CODE", raising=False)
    with pytest.raises(ModelLoadError) as err:
        attnviz.load_model(target)
    assert "ATTNVIZ_TRUST_REMOTE_CODE" in str(err.value)


class _Booby:
    """Unpickling this writes a marker file: proof that a checkpoint was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_checkpoints_are_never_loaded(tiny_model_dirs, tmp_path):
    import shutil

    target = tmp_path / "pickled"
    shutil.copytree(tiny_model_dirs["bert"], target)
    for weights in target.glob("*.safetensors"):
        weights.unlink()
    marker = tmp_path / "unpickled.txt"
    torch.save({"booby": _Booby(marker)}, target / "pytorch_model.bin")
    with pytest.raises(ModelLoadError) as err:
        attnviz.load_model(target)
    assert "safetensors" in str(err.value)
    assert not marker.exists(), "the pickle checkpoint was unpickled"


def test_directory_without_config_is_explained(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json"):
        attnviz.load_model(tmp_path)


def test_device_and_dtype_choice():
    assert pick_device("cpu") == torch.device("cpu")
    auto = pick_device(None)
    assert auto.type in {"cuda", "mps", "cpu"}
    if not torch.cuda.is_available():
        with pytest.raises(InputError):
            pick_device("cuda")
        with pytest.raises(InputError, match="GPU"):
            pick_dtype("float16", torch.device("cpu"))
    with pytest.raises(InputError):
        pick_device("quantum")
    with pytest.raises(InputError):
        pick_dtype("int3", torch.device("cpu"))
    assert pick_dtype(None, torch.device("cpu")) == torch.float32


def test_model_class_follows_architecture():
    from transformers import AutoModel, AutoModelForCausalLM, BertConfig, GPT2Config

    assert choose_model_class(BertConfig()) is AutoModel
    assert choose_model_class(GPT2Config(architectures=["GPT2LMHeadModel"])) is AutoModelForCausalLM
