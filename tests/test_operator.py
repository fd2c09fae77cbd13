"""Operator settings: allowed hub ids, model roots and the size limit, enforced by load_model itself."""

from __future__ import annotations

import os

import pytest
import torch

import attnviz
from attnviz.errors import ModelLoadError
from attnviz.operator import ModelPolicy, max_jobs, parse_bytes
from tests.helpers import small_tokenizer


@pytest.fixture(scope="module")
def model_root(tmp_path_factory):
    """A root holding one tiny saved BERT (safetensors) and, beside the root, another one outside it."""
    from transformers import BertConfig, BertModel

    base = tmp_path_factory.mktemp("operator")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=200, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    for folder in ("root/tiny", "outside/tiny"):
        BertModel(config).save_pretrained(base / folder, safe_serialization=True)
        small_tokenizer().save_pretrained(base / folder)
    return base


def _policy(model_root, **env) -> ModelPolicy:
    return ModelPolicy.from_env({"ATTNVIZ_MODEL_DIRS": str(model_root / "root"), **env})


def test_directory_outside_the_roots_is_refused_alike_whether_or_not_it_exists(model_root):
    policy = _policy(model_root)
    existing, missing = str(model_root / "outside" / "tiny"), str(model_root / "outside" / "nothing")
    messages = []
    for name in (existing, missing, str(model_root / "root" / ".." / "outside" / "tiny")):
        with pytest.raises(ModelLoadError) as caught:
            attnviz.load_model(name, policy=policy)
        messages.append(str(caught.value).replace(name, "NAME"))
    assert messages[0] == messages[1] == messages[2]
    assert "directories under " + os.path.realpath(model_root / "root") in messages[0]
    assert "exist" not in messages[0] and "config.json" not in messages[0]


def test_disallowed_hub_id_is_refused_alike_whether_or_not_it_is_cached(model_root):
    policy = _policy(model_root, ATTNVIZ_ALLOWED_MODELS="google/*,bert-*")
    messages = []
    for name in ("prajjwal1/bert-tiny", "nobody/never-published-model"):
        with pytest.raises(ModelLoadError) as caught:
            attnviz.load_model(name, policy=policy)
        messages.append(str(caught.value).replace(name, "NAME"))
    assert messages[0] == messages[1]
    assert "hub models matching google/*, bert-*" in messages[0]
    policy.check_name("google/electra-small")  # allowed by a glob: the load itself decides what happens next
    policy.check_name("bert-base-uncased")


def test_directory_under_a_root_loads_and_the_size_limit_counts_its_files(model_root):
    inside = str(model_root / "root" / "tiny")
    handle = attnviz.load_model(inside, policy=_policy(model_root))
    assert handle.num_layers == 1
    weights = (model_root / "root" / "tiny" / "model.safetensors").stat().st_size
    attnviz.load_model(inside, policy=_policy(model_root, ATTNVIZ_MAX_MODEL_BYTES=str(weights)))
    with pytest.raises(ModelLoadError, match="allows at most"):
        attnviz.load_model(inside, policy=_policy(model_root, ATTNVIZ_MAX_MODEL_BYTES=str(weights - 1)))


def test_a_symlink_out_of_a_root_is_refused(model_root):
    link = model_root / "root" / "escape"
    if not link.exists():
        link.symlink_to(model_root / "outside" / "tiny", target_is_directory=True)
    with pytest.raises(ModelLoadError, match="not allowed on this server"):
        attnviz.load_model(str(link), policy=_policy(model_root))


def test_hub_shaped_name_never_opens_a_directory_when_roots_are_set(model_root, monkeypatch):
    """``outside/tiny`` relative to the working directory is a hub id for a restricted server, not a path."""
    monkeypatch.chdir(model_root)
    policy = _policy(model_root, ATTNVIZ_ALLOWED_MODELS="*")
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache"):
        attnviz.load_model("outside/tiny", policy=policy)
    assert attnviz.load_model("outside/tiny", policy=ModelPolicy()).num_layers == 1  # unrestricted: as today


def test_nothing_set_on_localhost_restricts_nothing_and_a_shared_server_closes_by_default(model_root):
    assert ModelPolicy.from_env({}) == ModelPolicy(None, None, None)
    attnviz.load_model(str(model_root / "outside" / "tiny"), policy=ModelPolicy.from_env({}))
    shared = ModelPolicy.from_env({"ATTNVIZ_SHARED": "1"})
    assert shared.allowed_models == () and shared.model_dirs == ()
    for name in ("bert-base-uncased", str(model_root / "root" / "tiny")):
        with pytest.raises(ModelLoadError, match="The operator allows: the bundled model."):
            shared.check_name(name)
    assert attnviz.load_model(None, policy=shared).name == attnviz.DEFAULT_MODEL_ID  # always allowed


def test_load_model_reads_the_environment(model_root, monkeypatch):
    monkeypatch.setenv("ATTNVIZ_MODEL_DIRS", str(model_root / "root"))
    with pytest.raises(ModelLoadError, match="not allowed on this server"):
        attnviz.load_model(str(model_root / "outside" / "tiny"))


def test_sizes_and_job_counts_parse_or_fail_loudly():
    assert parse_bytes("2GB") == 2_000_000_000 and parse_bytes("1 GiB") == 2**30
    for bad in ("two gigs", "-1", "0", "5 parsecs"):
        with pytest.raises(ValueError):
            parse_bytes(bad)
    assert max_jobs({"ATTNVIZ_MAX_JOBS": "3"}) == 3 and max_jobs({}) >= 1
    with pytest.raises(ValueError):
        max_jobs({"ATTNVIZ_MAX_JOBS": "0"})
