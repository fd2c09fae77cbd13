"""The faithfulness leaderboard: per-example metrics are evaluate()'s, intervals are bootstrap intervals."""

import json

import numpy as np
import pytest

import attnviz
from attnviz.__main__ import main
from attnviz.attribution import prepare, run
from attnviz.attribution.evaluate import evaluate
from attnviz.audit.leaderboard import RANDOM, bootstrap_interval, leaderboard, summarise
from attnviz.errors import InputError

TEXTS = ["the river was bright and open", "a dog sings under the green city", "never walked because of winter"]
METHODS = ("saliency", "input_x_gradient")


@pytest.fixture(scope="module")
def tiny(tiny_model_dirs):
    return attnviz.load_model(tiny_model_dirs["bert-classifier"])


@pytest.fixture(scope="module")
def board(tiny):
    return leaderboard(tiny, TEXTS, METHODS)


def test_rows_are_evaluate_per_example_and_the_table_their_means(tiny, board):
    ctx = prepare(tiny, TEXTS[1], None, None)
    ev = evaluate(tiny, {m: run(ctx, m) for m in METHODS}, TEXTS[1], prepared=ctx, seed=1).summary()
    mine = board.per_example[board.per_example["example"] == 1].reset_index(drop=True)
    assert mine["method"].tolist() == [*METHODS, RANDOM]
    np.testing.assert_allclose(mine["comprehensiveness"], ev["comprehensiveness (AOPC, ↑)"], atol=1e-6)
    np.testing.assert_allclose(mine["insertion_auc"], ev["insertion AUC (↑)"], atol=1e-6)
    table = board.table.set_index("method")
    assert list(table.index) == [*METHODS, RANDOM] and (table["examples"] == 3).all()
    for method in METHODS:
        values = board.per_example.loc[board.per_example["method"] == method, "sufficiency"]
        assert table.loc[method, "sufficiency"] == pytest.approx(values.mean())
        assert table.loc[method, "sufficiency_low"] <= values.mean() <= table.loc[method, "sufficiency_high"]
    pair = board.agreement.iloc[0]
    assert {pair.method_a, pair.method_b} == set(METHODS) and pair.examples == 3
    assert board.agreement_matrix().shape == (2, 2)


def test_bootstrap_interval_against_a_hand_resample():
    values = np.array([0.1, 0.5, 0.2, 0.9, 0.4])
    low, high = bootstrap_interval(values, repeats=200, seed=3)
    draws = np.random.default_rng(3).choice(values, size=(200, 5), replace=True).mean(1)
    assert (low, high) == (np.percentile(draws, 2.5), np.percentile(draws, 97.5))
    assert bootstrap_interval(np.array([0.3, 0.3]))[0] == pytest.approx(0.3)
    frame = summarise(__import__("pandas").DataFrame({"example": [0], "method": ["m"], "comprehensiveness": [1.0],
                                                      "sufficiency": [0.0], "deletion_auc": [0.5],
                                                      "insertion_auc": [0.5]}), ["m"])
    assert frame.loc[1, "method"] == RANDOM and frame.loc[1, "examples"] == 0


def test_bad_requests_are_input_errors(tiny):
    with pytest.raises(InputError):
        leaderboard(tiny, TEXTS, ())
    with pytest.raises(InputError):
        leaderboard(tiny, ["", "  "], METHODS)
    with pytest.raises(InputError):
        leaderboard(tiny, TEXTS, ("telepathy",))


def test_cli_writes_the_table(tiny_model_dirs, tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("text\n" + "\n".join(TEXTS[:2]) + "\n", encoding="utf-8")
    code = main(["leaderboard", "--data", str(data), "--out", str(tmp_path / "out"), "--model",
                 str(tiny_model_dirs["bert-classifier"]), "--methods", "saliency", "--limit", "2"])
    assert code == 0
    assert (tmp_path / "out" / "leaderboard.csv").read_text().splitlines()[0].startswith("method,examples")
    doc = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert doc["methods"] == ["saliency"]
    assert "random ranking" in capsys.readouterr().out
    assert main(["leaderboard", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o2")]) == 2
