"""WEAT/SEAT: the math on hand-built embeddings, p-values by enumeration, and the default model."""

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest

import attnviz.bias as bias
from attnviz.bias.weat import associations, embedder, permutation_p_value
from attnviz.errors import InputError

# 2-D vectors with A = e1 and B = e2, so s(w) = cos(w, e1) − cos(w, e2).
A, B = {"a": (1.0, 0.0)}, {"b": (0.0, 1.0)}


def table(**vectors):
    return {**A, **B, **{k: np.asarray(v, dtype=float) for k, v in vectors.items()}}


def test_effect_size_and_exact_p_value_by_hand():
    # s values: x1 = 1, x2 = (3 − 1)/√10, y1 = −(3 − 1)/√10, y2 = −1
    emb = table(x1=(1, 0), x2=(3, 1), y1=(1, 3), y2=(0, 1))
    r = bias.weat(emb, ["x1", "x2"], ["y1", "y2"], ["a"], ["b"])
    c = 2 / math.sqrt(10)
    s = np.array([1, c, -c, -1])
    assert np.allclose(r.x_associations, s[:2]) and np.allclose(r.y_associations, s[2:])
    mean_diff = (1 + c) / 2 - (-(1 + c) / 2)
    std = math.sqrt(((1 ** 2) + c ** 2 + c ** 2 + 1 ** 2) / 3)  # mean is 0; sample std (ddof = 1)
    assert r.effect_size == pytest.approx(mean_diff / std)
    assert r.statistic == pytest.approx(2 * (1 + c))
    # Σ_X s is the largest of the C(4, 2) = 6 splits and no other split ties it
    assert r.exact and r.n_permutations == 6 and r.p_value == pytest.approx(1 / 6)


def test_ties_count_as_exceedances():
    # s = [1, 0 | 0, −1]: splits {1,0}, {1,0′} both reach Σ = 1, so p = 2/6
    emb = table(x1=(1, 0), x2=(1, 1), y1=(2, 2), y2=(0, 1))
    r = bias.weat(emb, ["x1", "x2"], ["y1", "y2"], ["a"], ["b"])
    assert r.exact and r.p_value == pytest.approx(2 / 6)


def test_swapping_targets_flips_the_sign():
    rng = np.random.default_rng(3)
    words = {f"w{i}": rng.normal(size=5) for i in range(12)}
    X, Y, Aw, Bw = ["w0", "w1", "w2"], ["w3", "w4", "w5"], ["w6", "w7", "w8"], ["w9", "w10", "w11"]
    r = bias.weat(words, X, Y, Aw, Bw)
    swapped = bias.weat(words, Y, X, Aw, Bw)
    assert swapped.effect_size == pytest.approx(-r.effect_size)
    # exact test over the same 20 splits: P(S ≥ s) + P(S ≥ −s) = 1 + P(S = s) for the mirrored statistic
    assert r.exact and swapped.exact and r.n_permutations == math.comb(6, 3)
    assert r.p_value + swapped.p_value >= 1.0 - 1e-12
    flipped_attributes = bias.weat(words, X, Y, Bw, Aw)
    assert flipped_attributes.effect_size == pytest.approx(-r.effect_size)


def test_exact_p_value_matches_brute_force_enumeration():
    rng = np.random.default_rng(7)
    s = rng.normal(size=10)
    p, n, exact = permutation_p_value(s, 5)
    sums = [s[list(c)].sum() for c in itertools.combinations(range(10), 5)]
    assert exact and n == 252
    assert p == pytest.approx(np.mean(np.array(sums) >= s[:5].sum() - 1e-12))


def test_sampled_p_value_is_reproducible_with_the_seed_and_close_to_exact():
    rng = np.random.default_rng(11)
    s = rng.normal(size=18) + np.r_[np.full(9, 0.4), np.zeros(9)]
    exact_p, total, exact = permutation_p_value(s, 9, n_samples=100_000)
    assert exact and total == math.comb(18, 9)
    p1, n1, e1 = permutation_p_value(s, 9, n_samples=20_000, seed=5)
    p2, _, _ = permutation_p_value(s, 9, n_samples=20_000, seed=5)
    p3, _, _ = permutation_p_value(s, 9, n_samples=20_000, seed=6)
    assert not e1 and n1 == 20_000 and p1 == p2
    assert p1 != p3  # another seed draws other splits
    assert abs(p1 - exact_p) < 0.015 and abs(p3 - exact_p) < 0.015
    assert p1 >= 1 / 20_001  # one "hallucinated" exceedance: never 0


def test_result_serialises_and_lists_associations():
    emb = table(x1=(1, 0), x2=(3, 1), y1=(1, 3), y2=(0, 1))
    r = bias.weat(emb, ["x1", "x2"], ["y1", "y2"], ["a"], ["b"], names=["X", "Y", "pleasant", "unpleasant"])
    doc = json.loads(r.to_json())
    assert doc["effect_size"] == pytest.approx(r.effect_size) and doc["exact"] is True
    frame = r.associations()
    assert list(frame["unit"]) == ["x1", "x2", "y1", "y2"] and len(frame) == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.effect_size = 0


def test_bad_lists_are_input_errors():
    emb = table(x1=(1, 0), x2=(3, 1), y1=(1, 3), y2=(0, 1))
    with pytest.raises(InputError, match="both"):
        bias.weat(emb, ["x1", "x2"], ["x2", "y1"], ["a"], ["b"])
    with pytest.raises(InputError, match="empty"):
        bias.weat(emb, [], ["y1"], ["a"], ["b"])
    with pytest.raises(InputError, match="No embedding"):
        bias.weat(emb, ["x1", "nope"], ["y1"], ["a"], ["b"])
    with pytest.raises(InputError, match="slot"):
        bias.weat(emb, ["x1"], ["y1", "y2"], ["a"], ["b"], templates=["no slot here"])


def test_seat_sentences_and_aggregates_with_a_function_embedder():
    seen = []

    def encode(texts):
        seen.extend(texts)
        return np.array([[len(t), t.count("e") + 1.0, 1.0] for t in texts])

    words = [["rose", "tulip"], ["ant", "flea"], ["love", "peace"], ["death", "grief"]]
    templates = ["This is {word}.", "{word} is here."]
    by_word = bias.weat(encode, *words, templates=templates)
    by_sentence = bias.weat(encode, *words, templates=templates, aggregate="sentence")
    assert "Rose is here." in seen and "This is rose." in seen
    assert len(by_word.x_units) == 2 and len(by_sentence.x_units) == 4
    assert by_sentence.n_permutations == math.comb(8, 4) and by_sentence.unit == "sentence"


def test_holm_bonferroni():
    adjusted = bias.holm_bonferroni([0.01, 0.04, 0.03])
    assert np.allclose(adjusted, [0.03, 0.06, 0.06])


# ------------------------------------------------------------------ real models
@pytest.fixture(scope="module")
def classic():
    return bias.weat_tests()


def test_flowers_insects_on_the_default_model(default_handle, classic):
    spec = classic["flowers/insects × pleasant/unpleasant"]
    X, Y, Aw, Bw = (spec[r][1] for r in ("X", "Y", "A", "B"))
    r = bias.weat(default_handle, X, Y, Aw, Bw)
    assert r.effect_size > 0.8 and r.p_value < 0.01  # a large effect, as in Caliskan et al.
    assert not r.exact and r.n_permutations == 100_000  # C(50, 25) splits: sampled with seed 1111
    swapped = bias.weat(default_handle, Y, X, Aw, Bw)
    assert swapped.effect_size == pytest.approx(-r.effect_size, abs=1e-6)
    assert swapped.p_value > 0.99


def test_embeddings_are_the_models_sentence_embeddings(default_handle):
    from attnviz.models.targets import sentence_embedding

    encode, name = embedder(default_handle)
    words = ["rose", "ant", "love"]
    assert np.allclose(encode(words), sentence_embedding(default_handle, words).numpy(), atol=1e-6)
    assert name == default_handle.name


def test_seat_on_the_default_model(default_handle, classic):
    spec = classic["career/family × male/female names"]
    r = bias.seat(default_handle, *(spec[k][1] for k in ("X", "Y", "A", "B")))
    assert r.exact and r.n_permutations == math.comb(16, 8) and len(r.templates) == 7
    assert np.isfinite(r.effect_size) and 0 < r.p_value <= 1


def test_weat_runs_on_a_tiny_random_encoder(tiny_model_dirs):
    import attnviz

    handle = attnviz.load_model(str(tiny_model_dirs["bert"]), device="cpu")
    results = bias.run_tests(handle, bias.weat_tests(), n_samples=2_000)
    table = bias.results_table(results)
    assert len(table) == 3 and table["effect_size"].abs().le(2.0).all() and table["p_holm"].ge(table["p_value"]).all()


def test_associations_helper_matches_definition():
    rng = np.random.default_rng(1)
    W, Am, Bm = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=(3, 3))

    def cos(u, v):
        return u @ v / np.linalg.norm(u) / np.linalg.norm(v)

    expected = [np.mean([cos(w, a) for a in Am]) - np.mean([cos(w, b) for b in Bm]) for w in W]
    assert np.allclose(associations(W, Am, Bm), expected)
