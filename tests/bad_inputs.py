"""The bad-input corpus: texts, model ids and settings that users (or attackers) can type.

One shared list so the library tests, the AppTest page tests and the Chromium tests all try the same
things. Each text is either *accepted* (the library returns a result) or *refused* (an
:class:`attnviz.InputError` whose message says what to do): never another exception.
"""

from __future__ import annotations

# name -> text; every one of these must give a result or an InputError, nothing else.
TEXTS: dict[str, str] = {
    "empty": "",
    "whitespace": " \t\n  \u3000\u00a0 ",
    "single_char": "a",
    "long_20000_words": " ".join(["the", "cat", "sat", "on"] * 5_000),  # 20,000 words, truncated
    "over_char_limit": "word " * 30_000,  # 150,000 characters: over MAX_TEXT_CHARS
    "emoji": "I love this 😀🎉👩🏽‍💻🏳️‍🌈 so much!",
    "cjk": "我喜欢这部电影。日本語のテキスト、한국어 문장.",
    "rtl": "هذا فيلم رائع \u202eevil\u202c שלום עולם",
    "combining": "Z\u0351\u0352\u0353a\u0300\u0301\u0302\u0303l\u0304\u0305g\u0306o e\u0301te\u0301",
    "zero_width": "in\u200bvis\u200cible\u200d text\ufeff here",
    "control_and_nul": "bell\x07 nul\x00 escape\x1b[31m red\x1b[0m end\x7f",
    "only_controls": "\x00\x01\x02\x1b\x7f",
    "lone_surrogate": "broken \ud800 surrogate",
    "script_tag": "<script>alert(1)</script> hello",
    "img_onerror": "<img src=x onerror=alert(1)> the film was fine",
    "svg_onload": "<svg onload=alert(1)></svg><iframe src=javascript:alert(2)></iframe>",
    "markdown_link": "[click me](javascript:alert(1)) and [site](http://evil.example)",
    "markdown_image": "![x](http://evil.example/x.png) **bold** `code` $x^2$ :red[red]",
    "html_entities": "&lt;b&gt; &amp; &#x3C;script&#x3E; \"quotes\" 'single'",
    "format_strings": "{0} {text} %s %(x)s ${HOME} {{}}",
    "special_tokens": "[CLS] [SEP] [MASK] [PAD] </s> <|endoftext|> [UNK]",
    "newlines": "line one\r\nline two\rline three\n\n\nend",
    "very_long_word": "a" * 5_000,
}

#: texts the library must refuse with an InputError (nothing is left to tokenize)
REFUSED = {"empty", "whitespace", "only_controls", "over_char_limit"}

#: short hostile texts for pages and browsers: HTML/JS/markdown that must be shown as text
HOSTILE = "<img src=x onerror=alert(1)> <script>alert(2)</script> [click](javascript:alert(3)) ![i](x)"

#: model ids/paths that must give an InputError or ModelLoadError
MODEL_IDS = [
    "no/such-model",
    "../../etc",
    "../../etc/passwd",
    "a" * 500,
    "http://x",
    "https://huggingface.co/bert-base-uncased",
    "owner/name/extra",
    "bad name with spaces",
    "<script>alert(1)</script>",
    "nul\x00byte",
    "~/nowhere-at-all",
    "/dev/null",
]


def accepted() -> dict[str, str]:
    return {k: v for k, v in TEXTS.items() if k not in REFUSED}


def short(texts: dict[str, str] | None = None, limit: int = 2_000) -> dict[str, str]:
    """The corpus without its very long members (for the slow paths: SHAP, pages)."""
    return {k: v for k, v in (texts or TEXTS).items() if len(v) <= limit}
