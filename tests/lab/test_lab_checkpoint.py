"""Checkpoints: safetensors + JSON config round trips; pickles, damaged files and mismatches are InputErrors."""

import io
import json
import pickle

import pytest
import torch
from safetensors.torch import save

import attnviz
from attnviz.errors import InputError
from attnviz.lab.checkpoint import (
    METADATA_KEY,
    checkpoint_bytes,
    config_dict,
    load_checkpoint,
    save_checkpoint,
)
from attnviz.lab.train import Trainer


@pytest.fixture(scope="module")
def trained():
    trainer = Trainer("copy", {"score": "cosine", "mask": "causal", "num_hidden_layers": 2})
    trainer.run(max_steps=40)
    return trainer


def same_outputs(a, b, inputs):
    with torch.no_grad():
        return torch.equal(a(input_ids=inputs).logits, b(input_ids=inputs).logits)


def test_single_file_round_trip(trained):
    model = trained.frozen_copy()
    loaded = load_checkpoint(checkpoint_bytes(model))
    assert loaded.config.score == "cosine" and loaded.config.mask == "causal" and not loaded.training
    assert same_outputs(model, loaded, trained.probe.inputs)


def test_directory_round_trip_opens_in_load_model_too(trained, tmp_path):
    model = trained.frozen_copy()
    save_checkpoint(model, tmp_path)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in tmp_path.iterdir()}
    assert same_outputs(model, load_checkpoint(tmp_path), trained.probe.inputs)
    handle = attnviz.load_model(str(tmp_path))
    result = handle.attention(trained.probe_text())
    assert result.attentions.shape[:2] == (2, 4)


def test_image_model_round_trip():
    trainer = Trainer("digits", settings={"max_steps": 3})
    trainer.run()
    loaded = load_checkpoint(checkpoint_bytes(trainer.model))
    with torch.no_grad():
        assert torch.equal(loaded(pixel_values=trainer.probe.inputs).logits,
                           trainer.model.eval()(pixel_values=trainer.probe.inputs).logits)


class _Boom:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('UNPICKLED').write_text('x')",))


def test_pickle_files_are_refused_and_never_unpickled(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    buffer = io.BytesIO()
    torch.save(trained.model.state_dict(), buffer)
    for data in (buffer.getvalue(), pickle.dumps(_Boom()), pickle.dumps({"a": 1}, protocol=2)):
        with pytest.raises(InputError, match="never unpickles"):
            load_checkpoint(data)
    (tmp_path / "model.bin").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(InputError, match="never unpickles"):
        load_checkpoint(tmp_path / "model.bin")
    assert not (tmp_path / "UNPICKLED").exists()


@pytest.mark.parametrize("data", [b"", b"hello, not a checkpoint", b"\x10\x00\x00\x00\x00\x00\x00\x00{broken"])
def test_damaged_files(data):
    with pytest.raises(InputError, match="safetensors"):
        load_checkpoint(data)


def test_truncated_file(trained):
    data = checkpoint_bytes(trained.model)
    with pytest.raises(InputError):
        load_checkpoint(data[: len(data) // 2])


def _with_config(trained, **changes):
    doc = {**config_dict(trained.config), **changes}
    return checkpoint_bytes(trained.model), json.dumps(doc)


@pytest.mark.parametrize("changes,message", [
    ({"hidden_size": 32, "intermediate_size": 64}, "wrong shapes"),
    ({"num_hidden_layers": 3}, "missing weights"),
    ({"num_hidden_layers": 1}, "no place for"),
    ({"token_shift": True}, "missing weights: shift.weight"),
    ({"score": "scaled_dot"}, "no place for"),  # the cosine temperatures
    ({"num_attention_heads": 3}, "multiple"),
    ({"mask": "everything"}, "Unknown mask"),
    ({"model_type": "bert"}, "not a lab model"),
    ({"auto_map": {"AutoModel": "evil.Model"}}, "Unknown settings"),
    ({"vocab": "0123"}, "vocab"),
    ({"vocab_size": 3}, "vocab_size"),
    ({"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 12}, "too large"),
])
def test_bad_configs_and_wrong_shapes(trained, changes, message):
    data, config = _with_config(trained, **changes)
    with pytest.raises(InputError, match=message):
        load_checkpoint(data, config)


def test_config_must_be_json_and_present(trained):
    weights = save({k: v.contiguous() for k, v in trained.model.state_dict().items()})
    with pytest.raises(InputError, match="config"):
        load_checkpoint(weights)
    with pytest.raises(InputError, match="JSON"):
        load_checkpoint(weights, "{not json")
    with pytest.raises(InputError, match="object"):
        load_checkpoint(weights, "[1, 2]")
    loaded = load_checkpoint(weights, json.dumps(config_dict(trained.config)))
    assert same_outputs(trained.model.eval(), loaded, trained.probe.inputs)


def test_non_finite_or_integer_weights(trained):
    tensors = {k: v.clone() for k, v in trained.model.state_dict().items()}
    tensors["head.bias"][0] = float("nan")
    meta = {METADATA_KEY: json.dumps(config_dict(trained.config))}
    with pytest.raises(InputError, match="NaN"):
        load_checkpoint(save(tensors, metadata=meta))
    tensors["head.bias"] = torch.zeros_like(tensors["head.bias"], dtype=torch.int64)
    with pytest.raises(InputError, match="floating-point"):
        load_checkpoint(save(tensors, metadata=meta))


def test_missing_paths(tmp_path):
    with pytest.raises(InputError, match="No checkpoint"):
        load_checkpoint(tmp_path / "nothing_here")
