"""Agreement and faithfulness metrics, checked on hand-built vectors and a linear 'model' (no torch model)."""

import json
import warnings

import numpy as np
import pytest

from attnviz.errors import InputError
from attnviz.metrics import (
    AGREEMENT_METRICS,
    agreement,
    agreement_matrix,
    agreement_table,
    default_k,
    deletion_insertion,
    eraser,
    random_baseline,
)


class LinearModel:
    """f(x) = sum of the weights of the tokens still present; counts calls and keeps every batch."""

    def __init__(self, weights):
        self.w = np.asarray(weights, dtype=np.float64)
        self.calls = []

    def __call__(self, keep_masks):
        keep_masks = np.asarray(keep_masks)
        assert keep_masks.dtype == bool and keep_masks.ndim == 2 and keep_masks.shape[1] == self.w.size
        self.calls.append(keep_masks.copy())
        return keep_masks.astype(np.float64) @ self.w


W4 = np.array([0.4, 0.3, 0.2, 0.1])


# --------------------------------------------------------------------- agreement
def test_identical_rankings_agree_completely():
    a = np.array([0.5, -0.2, 0.9, 0.1, 0.3, -0.05])
    res = agreement(a, a.copy(), k=3)
    for key in AGREEMENT_METRICS:
        assert res[key] == pytest.approx(1.0), key
    assert res["n"] == 6 and res["k"] == 3


def test_reversed_ranking_has_negative_correlation():
    a = np.arange(1.0, 8.0)
    res = agreement(a, a[::-1].copy())
    assert res["spearman"] == pytest.approx(-1.0)
    assert res["kendall"] == pytest.approx(-1.0)
    assert res["pairwise_rank_agreement"] == 0.0
    assert res["feature_agreement"] == 0.0  # default k = round(7/4) = 2: {6, 5} vs {0, 1}


def test_sign_flips_lower_sign_agreement_but_not_feature_agreement():
    a = np.array([0.9, -0.7, 0.5, 0.2, 0.1, 0.05])
    b = a.copy()
    b[[0, 1]] *= -1  # flip the two most important tokens
    res = agreement(a, b, k=3)
    assert res["feature_agreement"] == 1.0 and res["rank_agreement"] == 1.0
    assert res["sign_agreement"] == pytest.approx(1 / 3)
    assert res["signed_rank_agreement"] == pytest.approx(1 / 3)
    assert res["spearman"] == pytest.approx(1.0)  # correlations use |score|
    flipped = agreement(a, -a, k=3)
    assert flipped["sign_agreement"] == 0.0 and flipped["feature_agreement"] == 1.0


def test_hand_computed_top_k_metrics():
    a = np.array([0.9, 0.1, 0.5, -0.7, 0.2, 0.0])   # |a| order: 0, 3, 2, 4, 1, 5
    b = np.array([0.7, 0.1, 0.6, 0.8, 0.3, 0.05])   # |b| order: 3, 0, 2, 4, 1, 5
    res = agreement(a, b, k=3)
    assert res["feature_agreement"] == pytest.approx(1.0)       # {0, 3, 2} both
    assert res["rank_agreement"] == pytest.approx(1 / 3)        # only token 2 is third in both
    assert res["sign_agreement"] == pytest.approx(2 / 3)        # token 3 is -0.7 vs +0.8
    assert res["signed_rank_agreement"] == pytest.approx(1 / 3)
    res2 = agreement(a, b, k=2)
    assert (res2["feature_agreement"], res2["rank_agreement"]) == (1.0, 0.0)
    assert (res2["sign_agreement"], res2["signed_rank_agreement"]) == (0.5, 0.0)
    # one pair of 15 swapped (tokens 0 and 3) -> PRA 14/15
    assert res["pairwise_rank_agreement"] == pytest.approx(14 / 15)


def test_hand_computed_correlations_and_pra():
    a, b = np.array([3.0, 1.0, 2.0]), np.array([3.0, 2.0, 1.0])
    res = agreement(a, b)
    assert res["spearman"] == pytest.approx(0.5)        # 1 - 6·2 / (3·8)
    assert res["kendall"] == pytest.approx(1 / 3)       # 2 concordant, 1 discordant
    assert res["pairwise_rank_agreement"] == pytest.approx(2 / 3)
    assert res["k"] == 1 and res["feature_agreement"] == 1.0


def test_keep_mask_excludes_tokens():
    a = np.array([100.0, 1.0, 2.0, 3.0, -50.0])
    b = np.array([0.0, 1.0, 2.0, 3.0, 7.0])
    keep = np.array([False, True, True, True, False])
    res = agreement(a, b, keep=keep, k=2)
    assert res["n"] == 3 and res["k"] == 2
    for key in AGREEMENT_METRICS:
        assert res[key] == pytest.approx(1.0), key
    assert agreement(a, b, k=2)["feature_agreement"] < 1.0
    assert agreement(a, b, keep=[0, 1, 1, 1, 0], k=2) == res  # 0/1 masks work too


def test_default_k_is_a_quarter_rounded_half_up_and_clipped():
    assert [default_k(n) for n in (1, 2, 4, 6, 8, 10, 100)] == [1, 1, 1, 2, 2, 3, 25]
    a = np.arange(10.0)
    assert agreement(a, a)["k"] == 3
    assert agreement(a, a, k=50)["k"] == 10
    with pytest.raises(InputError):
        agreement(a, a, k=0)


def test_ties_use_dense_ranks_and_constant_vectors_give_nan():
    a = np.array([2.0, 2.0, 1.0, 0.5])
    res = agreement(a, a.copy(), k=2)
    assert res["rank_agreement"] == 1.0 and res["pairwise_rank_agreement"] == 1.0
    # tied in a, not in b: token 0 still first in both, token 1 tied-first vs second
    res = agreement(a, np.array([3.0, 2.0, 1.0, 0.5]), k=2)
    assert res["feature_agreement"] == 1.0 and res["rank_agreement"] == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = agreement(np.ones(5), np.arange(5.0))
    assert np.isnan(flat["spearman"]) and np.isnan(flat["kendall"])
    single = agreement([1.0, 2.0], [2.0, 1.0], keep=[True, False])
    assert np.isnan(single["spearman"]) and np.isnan(single["pairwise_rank_agreement"])


def test_agreement_rejects_bad_input():
    with pytest.raises(InputError):
        agreement([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(InputError):
        agreement([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(InputError):
        agreement([1.0, 2.0], [1.0, 2.0], keep=[False, False])
    with pytest.raises(InputError):
        agreement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], keep=[0, 2])


def test_agreement_matrix_and_table(rng):
    n = 12
    scores = {"attention": rng.random(n), "ig": rng.normal(size=n), "shap": rng.normal(size=n),
              "flat": np.full(n, 0.2)}
    keep = np.ones(n, dtype=bool)
    keep[[0, -1]] = False
    mat = agreement_matrix(scores, metric="spearman", keep=keep)
    assert list(mat.index) == list(mat.columns) == list(scores)
    values = mat.to_numpy()
    np.testing.assert_array_equal(np.isnan(values), np.isnan(values.T))
    np.testing.assert_allclose(np.nan_to_num(values), np.nan_to_num(values.T))
    np.testing.assert_allclose(np.diag(values)[:3], 1.0)
    assert np.isnan(values[3, 3]) and np.isnan(values[0, 3])
    assert values[0, 1] == pytest.approx(agreement(scores["attention"], scores["ig"], keep=keep)["spearman"])
    assert mat.attrs["metric"] == "spearman"

    fa = agreement_matrix(scores, metric="fa", k=4)
    np.testing.assert_allclose(np.diag(fa.to_numpy()), 1.0)
    assert fa.attrs == {"metric": "feature_agreement", "k": 4}
    with pytest.raises(InputError):
        agreement_matrix(scores, metric="pearson")

    table = agreement_table(scores, keep=keep)
    assert len(table) == 6
    assert list(table.columns) == ["method_a", "method_b", "n", "k", *AGREEMENT_METRICS]
    row = table[(table.method_a == "ig") & (table.method_b == "shap")].iloc[0]
    expected = agreement(scores["ig"], scores["shap"], keep=keep)
    for key in AGREEMENT_METRICS:
        assert row[key] == pytest.approx(expected[key])
    assert row["n"] == 10
    with pytest.raises(InputError):
        agreement_table({"a": np.ones(3), "b": np.ones(4)})


# ------------------------------------------------------------------ faithfulness
def test_eraser_hand_computed_on_a_linear_model():
    model = LinearModel(W4)
    res = eraser(model, W4, thresholds=(0.25, 0.5))
    assert res["rationale_sizes"] == [1, 2]
    np.testing.assert_allclose(res["comprehensiveness"], [0.4, 0.7])  # 1 - 0.6, 1 - 0.3
    np.testing.assert_allclose(res["sufficiency"], [0.6, 0.3])        # 1 - 0.4, 1 - 0.7
    assert res["aopc_comprehensiveness"] == pytest.approx(0.55)
    assert res["aopc_sufficiency"] == pytest.approx(0.45)
    assert res["full_output"] == pytest.approx(1.0) and res["rank_by"] == "abs"
    assert len(model.calls) == 1
    json.dumps(res)

    worst = eraser(model, W4[::-1].copy(), thresholds=(0.25, 0.5))
    assert worst["aopc_comprehensiveness"] == pytest.approx(0.2)
    assert worst["aopc_sufficiency"] == pytest.approx(0.8)


def test_eraser_default_thresholds_average_plainly():
    model = LinearModel(W4)
    res = eraser(model, W4)
    # ceil(k% · 4) = 1, 1, 1, 1, 2 tokens
    assert res["thresholds"] == [0.01, 0.05, 0.1, 0.2, 0.5]
    assert res["rationale_sizes"] == [1, 1, 1, 1, 2]
    assert res["aopc_comprehensiveness"] == pytest.approx((4 * 0.4 + 0.7) / 5)  # 1/|B|, not 1/(|B|+1)
    assert res["aopc_sufficiency"] == pytest.approx((4 * 0.6 + 0.3) / 5)
    assert len(model.calls) == 1
    assert model.calls[0].shape[0] == 5  # full, x\{0}, x\{0,1}, {0}, {0,1}: repeats are sent once


def test_eraser_keeps_special_tokens_and_uses_given_full_output():
    w = np.array([0.5, 0.4, 0.3, 0.2, 0.1, 0.25])
    keep = np.array([False, True, True, True, True, False])
    model = LinearModel(w)
    res = eraser(model, np.array([9.0, 0.4, 0.3, 0.2, 0.1, 9.0]), thresholds=(0.25, 0.5), keep=keep,
                 full_output=1.75)
    assert len(model.calls) == 1
    batch = model.calls[0]
    assert batch[:, 0].all() and batch[:, -1].all()  # specials are never removed nor ranked
    assert not batch.all(axis=1).any()  # full input not requested when full_output is given
    assert res["n_kept"] == 4 and res["rationale_sizes"] == [1, 2]
    np.testing.assert_allclose(res["comprehensiveness"], [0.4, 0.7])
    np.testing.assert_allclose(res["sufficiency"], [1.75 - 1.15, 1.75 - 1.45])


def test_eraser_rank_by_positive_vs_abs():
    model = LinearModel(W4)
    scores = np.array([-0.9, 0.5, 0.1, 0.3])
    by_abs = eraser(model, scores, thresholds=(0.25,))
    by_pos = eraser(model, scores, thresholds=(0.25,), rank_by="positive")
    assert by_abs["comprehensiveness"] == pytest.approx([0.4])  # token 0 (|-0.9|)
    assert by_pos["comprehensiveness"] == pytest.approx([0.3])  # token 1 (+0.5)
    assert by_pos["rank_by"] == "positive"
    with pytest.raises(InputError):
        eraser(model, scores, rank_by="signed")
    with pytest.raises(InputError):
        eraser(model, scores, thresholds=(0.0, 0.5))


def test_true_ranking_beats_random_baseline():
    model = LinearModel(W4)
    true = eraser(model, W4)
    model.calls.clear()
    base = random_baseline(eraser, model, 4, repeats=300, seed=0)
    assert len(model.calls) == 1  # all 300 repeats in one forward batch
    assert base["metric"] == "eraser" and base["repeats"] == 300
    mean, std = base["mean"], base["std"]
    # chance: E[comp] = size · mean(w) = 0.25 per token -> (4·0.25 + 0.5) / 5 = 0.3
    assert mean["aopc_comprehensiveness"] == pytest.approx(0.3, abs=0.02)
    assert mean["aopc_sufficiency"] == pytest.approx(0.7, abs=0.02)
    assert true["aopc_comprehensiveness"] > mean["aopc_comprehensiveness"] + std["aopc_comprehensiveness"]
    assert true["aopc_sufficiency"] < mean["aopc_sufficiency"] - std["aopc_sufficiency"]
    assert mean["thresholds"] == true["thresholds"] and mean["rank_by"] == "abs"
    assert std["full_output"] == 0.0 and len(std["comprehensiveness"]) == 5
    json.dumps(base)


def test_random_baseline_is_reproducible_and_matches_unbatched_runs():
    w = np.array([0.1, 0.5, 0.05, 0.2, 0.15])
    model = LinearModel(w)
    keep = np.array([True, True, True, True, False])
    first = random_baseline(deletion_insertion, model, 5, keep=keep, repeats=5, seed=3)
    again = random_baseline(deletion_insertion, LinearModel(w), 5, keep=keep, repeats=5, seed=3)
    other = random_baseline(deletion_insertion, LinearModel(w), 5, keep=keep, repeats=5, seed=4)
    assert first == again and first != other
    assert len(model.calls) == 1
    # the replayed runs equal direct runs on the same random rankings
    rng = np.random.default_rng(3)
    direct = [deletion_insertion(LinearModel(w), rng.permutation(5) + 1.0, keep=keep) for _ in range(5)]
    assert first["mean"]["deletion_auc"] == pytest.approx(np.mean([d["deletion_auc"] for d in direct]))
    assert first["std"]["insertion_auc"] == pytest.approx(np.std([d["insertion_auc"] for d in direct]))
    assert first["mean"]["deletion"][0] == pytest.approx(1.0)
    assert first["std"]["deletion"][0] == 0.0 and first["std"]["deletion"][-1] == 0.0


def test_deletion_insertion_hand_computed():
    model = LinearModel(W4)
    res = deletion_insertion(model, W4)
    assert res["counts"] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(res["fractions"], [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(res["deletion"], [1.0, 0.6, 0.3, 0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(res["insertion"], [0.0, 0.4, 0.7, 0.9, 1.0], atol=1e-12)
    assert res["deletion_auc"] == pytest.approx(0.375)
    assert res["insertion_auc"] == pytest.approx(0.625)
    assert len(model.calls) == 1 and model.calls[0].shape[0] == 8  # full and empty shared
    json.dumps(res)


def test_deletion_starts_at_full_output_and_ends_at_specials_only():
    w = np.array([0.5, 0.4, -0.3, 0.2, 0.1, 0.25])
    keep = np.array([False, True, True, True, True, False])
    model = LinearModel(w)
    res = deletion_insertion(model, np.array([0.0, 0.1, 0.9, 0.3, 0.2, 0.0]), keep=keep)
    assert res["deletion"][0] == pytest.approx(w.sum()) == pytest.approx(res["full_output"])
    assert res["deletion"][-1] == pytest.approx(0.75) == pytest.approx(res["empty_output"])
    assert res["insertion"][0] == pytest.approx(0.75) and res["insertion"][-1] == pytest.approx(w.sum())
    assert res["deletion"][1] == pytest.approx(w.sum() + 0.3)  # token 2 (score 0.9, weight −0.3) goes first
    assert model.calls[0][:, [0, -1]].all()
    assert len(model.calls) == 1


def test_deletion_insertion_steps():
    w = np.linspace(1.0, 0.0, 120)
    res = deletion_insertion(LinearModel(w), w)
    assert len(res["fractions"]) == 51 and res["fractions"][0] == 0.0 and res["fractions"][-1] == 1.0
    assert res["counts"][1] in (2, 3)
    small = deletion_insertion(LinearModel(W4), W4, steps=2)
    assert small["counts"] == [0, 2, 4]
    assert small["deletion_auc"] == pytest.approx(0.5 * ((1.0 + 0.3) / 2 + 0.3 / 2))
    with pytest.raises(InputError):
        deletion_insertion(LinearModel(W4), W4, steps=0)


def test_predict_must_return_one_value_per_row():
    with pytest.raises(InputError, match="one number per row"):
        eraser(lambda masks: np.zeros((masks.shape[0], 2)), W4)
    with pytest.raises(InputError):
        deletion_insertion(lambda masks: np.zeros(1), W4)
    ok = deletion_insertion(lambda masks: (masks @ W4)[:, None], W4)  # [m, 1] is accepted
    assert ok["deletion_auc"] == pytest.approx(0.375)
