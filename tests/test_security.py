"""Security defaults: nothing is unpickled, remote code needs the operator, the server config is safe."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([ROOT / "app.py", *(ROOT / "attnviz").rglob("*.py"), *(ROOT / "pages").glob("*.py"),
                  *(ROOT / "bench").glob("*.py")])
UNPICKLERS = {"pickle", "cPickle", "dill", "joblib", "cloudpickle", "shelve", "marshal"}


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _dotted(node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_unpickling_anywhere(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & UNPICKLERS, (path, node.lineno)
        if isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in UNPICKLERS, (path, node.lineno)
    for call in _calls(tree):
        name = _dotted(call.func)
        if name.endswith(("torch.load", "torch.serialization.load")):
            flag = _kw(call, "weights_only")
            assert isinstance(flag, ast.Constant) and flag.value is True, \
                f"{path.name}:{call.lineno}: torch.load without weights_only=True"
        safetensors = _kw(call, "use_safetensors")
        assert not (isinstance(safetensors, ast.Constant) and safetensors.value is not True), \
            f"{path.name}:{call.lineno}: use_safetensors is not True"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_remote_code_is_never_switched_on_in_code(path):
    """trust_remote_code is only ever passed on from the operator's launch setting, never as a literal True."""
    tree = ast.parse(path.read_text(), str(path))
    for call in _calls(tree):
        flag = _kw(call, "trust_remote_code")
        if flag is not None:
            assert not (isinstance(flag, ast.Constant) and flag.value is True), f"{path.name}:{call.lineno}"
    if path.parts[-2] == "pages" or path.name in ("app.py", "ui.py"):
        # pages and the UI never pass the flag at all: only the launch switch (env var) decides
        assert all(_kw(c, "trust_remote_code") is None for c in _calls(tree)), path


def test_the_torch_load_check_catches_a_bad_call(tmp_path):
    """The scan above must fail on an unsafe call (a check that cannot fail is no check)."""
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nstate = torch.load('x.bin')\n")
    with pytest.raises(AssertionError, match="weights_only"):
        test_no_unpickling_anywhere(bad)
    bad.write_text("import pickle\n")
    with pytest.raises(AssertionError):
        test_no_unpickling_anywhere(bad)
    bad.write_text("import torch\nstate = torch.load('x.bin', weights_only=True)\n")
    test_no_unpickling_anywhere(bad)


def test_server_config_is_safe_by_default():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] in ("localhost", "127.0.0.1")
    assert server.get("enableXsrfProtection", True) is True
    assert server.get("enableCORS", True) is True
    assert 1 <= server["maxUploadSize"] <= 200  # MB: a sane limit (Streamlit's default is 200)
    assert server.get("runOnSave", False) is False
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] in ("none", False)


def test_readme_documents_the_security_defaults():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Security defaults", 1)[1].split("\n## ", 1)[0]
    for needle in ("--server.address 0.0.0.0", "ATTNVIZ_TRUST_REMOTE_CODE", "--trust-remote-code", "safetensors",
                   "XSRF", "localhost", "escaped"):
        assert needle in section, needle


MARKDOWN_SAMPLES = [
    "![x](http://evil.example/p.png)", "[click](javascript:alert(1))", "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>", "**bold** _em_ *em* ~~strike~~ `code` ``two``", "# heading", "- item",
    "1. first", "> quote", "| a | b |", "<http://evil.example>", "&lt;b&gt; &amp;", "\\*not em\\*",
    "a_b_c SNAKE_CASE __dunder__", "x: y :smile: :red[red]", "$x^2$", "trailing backslash \\",
    "[ref]: http://evil.example", "![a][ref]", "***", "---", "= x", "+ y", "12) twelve",
]


@pytest.mark.parametrize("text", MARKDOWN_SAMPLES)
def test_md_text_renders_as_the_literal_text(text):
    """Through a CommonMark renderer (an independent reference), escaped text is one paragraph of the
    same characters: no link, image, emphasis, heading, list or HTML."""
    import html

    from markdown_it import MarkdownIt

    from attnviz.ui import md_text

    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md_text(text)).strip()
    assert rendered.startswith("<p>") and rendered.endswith("</p>"), rendered
    inner = rendered[3:-4]
    assert "<" not in inner, rendered  # no tag at all inside the paragraph
    assert html.unescape(inner) == text.strip()


@pytest.mark.parametrize("text", ["plain", "a`b", "``x``", "`edge", "edge`", "![x](http://e/p.png) `"])
def test_md_code_is_one_code_span_holding_the_text(text):
    import html

    from markdown_it import MarkdownIt

    from attnviz.ui import md_code

    rendered = MarkdownIt("commonmark").render(md_code(text)).strip()
    assert rendered.startswith("<p><code>") and rendered.endswith("</code></p>"), rendered
    assert html.unescape(rendered[len("<p><code>"):-len("</code></p>")]) == text
