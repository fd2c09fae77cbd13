"""The Heads and Leaderboard pages through AppTest: every section renders, bad input is a message."""

from tests.helpers import chart_specs, click, open_page, strings_in


def test_heads_page_sections_render_and_unequal_patching_texts_are_a_message():
    at = open_page("heads")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Heads"
    specs = chart_specs(at)
    assert len(specs) == 3  # importance, attention change, patching
    assert "Head importance" in strings_in(specs[0]) and "AtP" in strings_in(specs[2])
    assert any("Spearman" in m.value for m in at.markdown)
    at = click(at, "Draw the pruning curve")
    assert not at.exception and "heads removed" in strings_in(chart_specs(at)[2])
    at.text_input[1].set_value("The film was not wonderful at all.").run()
    assert not at.exception and any("same number of tokens" in e.value for e in at.error)


def test_leaderboard_page_scores_methods_next_to_random():
    at = open_page("leaderboard")
    assert not at.exception and not at.error
    at.multiselect[0].set_value(["saliency", "rollout"])
    at.number_input[0].set_value(2)
    at = click(at, "Score the methods")
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert table["method"].tolist() == ["saliency", "rollout", "random ranking"]
    assert "Faithfulness on 2 examples" in strings_in(chart_specs(at)[0])
