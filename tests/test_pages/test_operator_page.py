"""The operator's model rules in the app: a refused model (typed, or from a link) shows what is allowed,
in the same words for a directory that exists and one that does not; the sidebar says what is allowed."""

from __future__ import annotations

import pytest

from tests.helpers import open_link, open_page


@pytest.fixture
def roots(tmp_path, monkeypatch):
    (tmp_path / "allowed").mkdir()
    (tmp_path / "elsewhere" / "model").mkdir(parents=True)
    (tmp_path / "elsewhere" / "model" / "config.json").write_text("{}")
    monkeypatch.setenv("ATTNVIZ_MODEL_DIRS", str(tmp_path / "allowed"))
    monkeypatch.setenv("ATTNVIZ_ALLOWED_MODELS", "bert-*")
    return tmp_path


def _errors(at) -> str:
    return " ".join(e.value for e in at.error)


def test_a_refused_directory_reads_the_same_whether_it_exists_or_not(roots):
    seen = []
    for name in (str(roots / "elsewhere" / "model"), str(roots / "elsewhere" / "missing")):
        at = open_page(model_key=(name, "auto", "float32"))
        assert not at.exception
        seen.append(_errors(at).replace(name, "NAME"))
    assert seen[0] == seen[1] and "not allowed on this server" in seen[0]
    assert "hub models matching bert-" in seen[0] and "config.json" not in seen[0]
    assert any(b.label == "Back to the bundled default model" for b in at.button)
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Models this server allows" in captions


def test_a_model_named_in_a_link_obeys_the_same_rules(roots):
    at = open_link({"model": "gpt2"})
    assert not at.exception
    assert "not allowed on this server" in _errors(at)
