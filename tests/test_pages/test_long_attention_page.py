"""The Attention page's long-input path, through AppTest: the bounded views render (the limit is lowered
so the bundled model's short text takes that path; in use it takes texts whose full weights do not fit)."""

import pytest
from transformers import AutoTokenizer

from attnviz.models import encoding
from attnviz.models.loading import default_model_path
from tests.helpers import open_page

LONG_VIEWS = ["Model view", "Heatmap", "Text", "Head statistics"]


@pytest.fixture
def long_page(monkeypatch):
    monkeypatch.setattr(encoding, "MAX_ATTENTION_VALUES", 1_000)
    at = open_page()
    assert not at.exception and not at.error
    return at


def test_long_inputs_get_the_bounded_views(long_page):
    at = long_page
    assert any("summarised while the model runs" in i.value for i in at.info)
    for view in LONG_VIEWS:
        at.segmented_control(key="attention_long_view").set_value(view).run()
        assert not at.exception and not at.error, view
        if view == "Text":
            page = at.get("iframe")[0].proto.srcdoc
            n_tokens = len(AutoTokenizer.from_pretrained(str(default_model_path()))(at.text_area[0].value).input_ids)
            assert page.count('class="t" data-i=') == n_tokens  # every token, as text
        else:
            assert len(at.get("plotly_chart")) >= 1, view
    # the session file holds the long result's summaries (LongAttentionResult is serialisable)
    assert any(b.proto.label.startswith("Save session") for b in at.get("download_button"))
