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


def _select_on_chart(at, key: str, points: list[dict]):
    """What the browser sends when cells of the chart keyed ``key`` are clicked: its selection state."""
    import json

    from streamlit.proto.WidgetStates_pb2 import WidgetState

    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key))
    states = at._tree.get_widget_states()
    state = WidgetState(id=chart.proto.id)
    state.string_value = json.dumps({"selection": {"points": points, "point_indices": list(range(len(points))),
                                                   "box": [], "lasso": []}})
    states.widgets.append(state)
    return at._run(widget_state=states)


def test_clicking_heads_on_the_importance_heatmap_ablates_them():
    at = open_page("heads")
    before = [m.value for m in at.metric]
    spec = chart_specs(at)[0]
    assert [t["name"] for t in spec["data"][1:]] == ["heads", "ablated"]  # click layer, crosses on the top 3
    assert len(spec["data"][2]["x"]) == 3
    at = _select_on_chart(at, "heads_importance_click", [{"x": "H5", "y": "L2", "curve_number": 1, "point_index": 29},
                                                        {"x": "H0", "y": "L0", "curve_number": 1, "point_index": 0}])
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.multiselect[0].value == ["L0H0", "L2H5"]
    crosses = chart_specs(at)[0]["data"][2]
    assert sorted(zip(crosses["x"], crosses["y"])) == [("H0", "L0"), ("H5", "L2")]
    after = [m.value for m in at.metric]
    assert after != before  # the ablation shown is the clicked heads'
    # editing the multiselect by hand still works and is not overwritten by the (unchanged) selection
    at.multiselect[0].set_value(["L0H0"])
    at = _select_on_chart(at, "heads_importance_click", [{"x": "H5", "y": "L2"}, {"x": "H0", "y": "L0"}])
    assert at.multiselect[0].value == ["L0H0"]
