"""The other pages work for families beyond MiniLM (issue 13): a grouped-query causal LM (Llama, captured
natively) and an MPNet sentence-transformers model (eager path, zero-shot by embedding), each page opened
straight away through AppTest and its main button pressed. One run per page and family, tiny models."""

from __future__ import annotations

import pytest

from tests.models.test_gqa_chat import _sentence_transformers_dir, tiny_llama

PAGES = {"attribution": "Explain", "compare_two": "Compare", "generate": "Generate", "bias": "Run probe",
         "audit": None}


@pytest.fixture(scope="module")
def family_keys(tmp_path_factory):
    llama = tmp_path_factory.mktemp("pages_llama")
    tiny_llama(llama)
    mpnet = _sentence_transformers_dir(tmp_path_factory.mktemp("pages_mpnet"), "mpnet", "MPNetModel",
                                       {"pooling_mode_mean_tokens": True})
    return {"llama": (str(llama), "cpu", "float32"), "mpnet": (str(mpnet), "cpu", "float32")}


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("family", ["llama", "mpnet"])
def test_the_page_works_for_the_family(family_keys, family, page):
    from streamlit.testing.v1 import AppTest

    from attnviz.ui import MODEL_KEY
    from tests.helpers import APP

    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state[MODEL_KEY] = family_keys[family]
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    if page == "generate" and family == "mpnet":  # an encoder: the page says why it cannot generate
        assert any("causal language model" in m.value for m in at.info)
        return
    label = PAGES[page]
    if label is not None:
        button = next(b for b in at.button if b.label == label)
        button.click()
        at.run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        assert at.get("plotly_chart") or at.dataframe or at.get("iframe") or at.get("html")
