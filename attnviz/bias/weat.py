"""Embedding association tests: WEAT (Caliskan et al. 2017) and SEAT-style sentences (May et al. 2019).

    s(w, A, B) = mean_a cos(w, a) − mean_b cos(w, b)
    S(X, Y)    = Σ_x s(x) − Σ_y s(y)
    d          = (mean_x s − mean_y s) / std_{w ∈ X ∪ Y} s(w)        (sample std, ddof = 1)
    p          = Pr_i[S(X_i, Y_i) ≥ S(X, Y)] over splits of X ∪ Y into sets of sizes |X| and |Y|

The p-value is one-sided (H1: X is more associated with A than Y is) and ties count as exceedances.
It is exact (every split enumerated) when there are at most ``n_samples`` splits; otherwise
``n_samples`` splits are drawn with a fixed seed and p = (count + 1) / (n_samples + 1).

SEAT: each word is put into semantically bleached templates ("This is {word}."). By default the
template embeddings of a word are averaged and the test permutes *words*: permuting sentences (the
original SEAT) treats the ~7 sentences of one word as independent and overstates significance.
A non-significant result does not show that a model has no bias (May et al. 2019).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..models.targets import sentence_embedding
from ..serialise import Serialisable, serialisable
from .assets import WORD_SLOT, seat_templates
from .stats import holm_bonferroni

DEFAULT_SAMPLES = 100_000
DEFAULT_SEED = 1111
AGGREGATES = ("word", "sentence")
_BATCH = 128


@serialisable(version=1, exclude=("meta",))
@dataclass(frozen=True)
class WeatResult(Serialisable):
    """One association test.

    ``x_associations``/``y_associations`` are s(w, A, B) for each unit of X and Y (a word, or a
    sentence when ``aggregate == "sentence"``), in the order of ``x_units``/``y_units``.
    """

    effect_size: float
    p_value: float
    statistic: float
    n_permutations: int
    exact: bool
    x_units: tuple[str, ...]
    y_units: tuple[str, ...]
    x_associations: tuple[float, ...]
    y_associations: tuple[float, ...]
    names: tuple[str, str, str, str] = ("X", "Y", "A", "B")
    n_attributes: tuple[int, int] = (0, 0)
    templates: tuple[str, ...] = ()
    aggregate: str = "word"
    seed: int = DEFAULT_SEED
    model_name: str = ""
    test: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if len(self.x_units) != len(self.x_associations) or len(self.y_units) != len(self.y_associations):
            raise ValueError("one association per unit of X and Y")

    @property
    def unit(self) -> str:
        return "sentence" if self.aggregate == "sentence" and self.templates else "word"

    def associations(self) -> pd.DataFrame:
        """One row per unit: its set (the X or Y name), the unit text and s(w, A, B)."""
        return pd.DataFrame({
            "set": [self.names[0]] * len(self.x_units) + [self.names[1]] * len(self.y_units),
            "unit": list(self.x_units) + list(self.y_units),
            "association": list(self.x_associations) + list(self.y_associations),
        })

    def summary(self) -> dict:
        """The headline numbers as one flat row (for tables)."""
        return {"test": self.test or " / ".join(self.names), "X": self.names[0], "Y": self.names[1],
                "A": self.names[2], "B": self.names[3], "effect_size": self.effect_size, "p_value": self.p_value,
                "exact": self.exact, "n_permutations": self.n_permutations, "unit": self.unit,
                "n_x": len(self.x_units), "n_y": len(self.y_units), "model": self.model_name}


# ------------------------------------------------------------------ math
def associations(W: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """s(w, A, B) for each row of W: [n, d], [a, d], [b, d] → [n] (rows need not be normalised)."""
    W, A, B = (_normalise(M) for M in (W, A, B))
    return (W @ A.T).mean(axis=1) - (W @ B.T).mean(axis=1)


def _normalise(M) -> np.ndarray:
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] == 0:
        raise InputError("Each word list needs at least one embedded word.")
    norms = np.linalg.norm(M, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(M)):
        raise InputError("An embedding is zero or not finite: cosine similarity is undefined.")
    return M / norms


def effect_size(s_x: np.ndarray, s_y: np.ndarray) -> float:
    """Caliskan's d: difference of mean associations over their pooled sample std (ddof = 1)."""
    pooled = np.concatenate([s_x, s_y])
    std = pooled.std(ddof=1)
    if not std > 0:
        raise InputError("All associations are equal: the effect size is undefined for these lists.")
    return float((s_x.mean() - s_y.mean()) / std)


def permutation_p_value(s: np.ndarray, n_x: int, *, n_samples: int = DEFAULT_SAMPLES,
                        seed: int = DEFAULT_SEED) -> tuple[float, int, bool]:
    """One-sided p of Σ_{first n_x} s against every (or ``n_samples`` random) split of ``s``.

    Σ over X ∪ Y is fixed, so Σ_{x ∈ X_i} s(x) orders the splits exactly as S(X_i, Y_i) does.

    Returns:
        (p, number of splits used, exact?)
    """
    s = np.asarray(s, dtype=np.float64)
    total = math.comb(s.size, n_x)
    observed = s[:n_x].sum()
    tolerance = 1e-9 * max(1.0, float(np.abs(s).sum()))  # float sums in another order: a tie stays a tie
    if total <= n_samples:
        count = 0
        combos = itertools.combinations(range(s.size), n_x)
        while True:
            block = np.array(list(itertools.islice(combos, 50_000)), dtype=np.intp)
            if block.size == 0:
                break
            count += int((s[block].sum(axis=1) >= observed - tolerance).sum())
        return count / total, total, True
    rng = np.random.default_rng(seed)
    count, done = 0, 0
    while done < n_samples:
        size = min(10_000, n_samples - done)
        order = np.argsort(rng.random((size, s.size)), axis=1)[:, :n_x]
        count += int((s[order].sum(axis=1) >= observed - tolerance).sum())
        done += size
    return (count + 1) / (n_samples + 1), n_samples, False


def weat_from_embeddings(X, Y, A, B, *, n_samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED,
                         x_units: Sequence[str] | None = None, y_units: Sequence[str] | None = None,
                         **info) -> WeatResult:
    """WEAT on embeddings already computed: X [nx, d], Y [ny, d], A [na, d], B [nb, d].

    Example:
        >>> r = weat_from_embeddings(X, Y, A, B)
        >>> r.effect_size, r.p_value
    """
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if len(X) < 1 or len(Y) < 1 or len(X) + len(Y) < 3:
        raise InputError("WEAT needs at least one target in X and in Y (and three in all).")
    s_x, s_y = associations(X, A, B), associations(Y, A, B)
    d = effect_size(s_x, s_y)
    p, n_perm, exact = permutation_p_value(np.concatenate([s_x, s_y]), len(s_x), n_samples=n_samples, seed=seed)
    x_units = tuple(x_units) if x_units is not None else tuple(f"x{i}" for i in range(len(s_x)))
    y_units = tuple(y_units) if y_units is not None else tuple(f"y{i}" for i in range(len(s_y)))
    return WeatResult(effect_size=d, p_value=float(p), statistic=float(s_x.sum() - s_y.sum()),
                      n_permutations=n_perm, exact=exact, x_units=x_units, y_units=y_units,
                      x_associations=tuple(float(v) for v in s_x), y_associations=tuple(float(v) for v in s_y),
                      n_attributes=(len(A), len(B)), seed=seed, **info)


# --------------------------------------------------------------- models
Embedder = Callable[[list[str]], np.ndarray]


def embedder(model) -> tuple[Embedder, str]:
    """(texts → [n, d] array, model name) for a ModelHandle, a callable or a {word: vector} mapping."""
    if hasattr(model, "tokenizer") and hasattr(model, "model"):
        def encode(texts: list[str]) -> np.ndarray:
            rows = [sentence_embedding(model, texts[i:i + _BATCH]).cpu().numpy() for i in range(0, len(texts), _BATCH)]
            return np.concatenate(rows).astype(np.float64)

        return encode, getattr(model, "name", "")
    if isinstance(model, Mapping):
        def lookup(texts: list[str]) -> np.ndarray:
            missing = [t for t in texts if t not in model]
            if missing:
                raise InputError(f"No embedding for {', '.join(map(repr, missing[:5]))}.")
            return np.stack([np.asarray(model[t], dtype=np.float64) for t in texts])

        return lookup, "embeddings"
    if callable(model):
        return (lambda texts: np.asarray(model(list(texts)), dtype=np.float64)), getattr(model, "__name__", "")
    raise InputError("WEAT needs a loaded model, a function from texts to embeddings, or a {word: vector} mapping.")


def fill(template: str, word: str) -> str:
    """A SEAT sentence: the word in the slot, capitalised when it starts the sentence."""
    if template.lstrip().startswith(WORD_SLOT):
        word = word[:1].upper() + word[1:]
    return template.replace(WORD_SLOT, word)


def _words(words, what: str) -> list[str]:
    if isinstance(words, str):
        raise InputError(f"{what} must be a list of words, not one string.")
    cleaned = [str(w).strip() for w in words if str(w).strip()]
    if not cleaned:
        raise InputError(f"The word list {what} is empty.")
    return list(dict.fromkeys(cleaned))


def weat(model, X: Sequence[str], Y: Sequence[str], A: Sequence[str], B: Sequence[str], *,
         templates: Sequence[str] | None = None, aggregate: str = "word", n_samples: int = DEFAULT_SAMPLES,
         seed: int = DEFAULT_SEED, names: Sequence[str] | None = None, test: str = "") -> WeatResult:
    """WEAT of targets X vs Y and attributes A vs B on a model's sentence embeddings.

    Args:
        model: a :class:`attnviz.ModelHandle` (embeddings = :func:`attnviz.models.targets.sentence_embedding`,
            equal to sentence-transformers' own for the bundled MiniLM), a function from a list of texts
            to an [n, d] array, or a {word: vector} mapping.
        X, Y: target words (e.g. flowers, insects); A, B: attribute words (e.g. pleasant, unpleasant).
        templates: SEAT: bleached templates with a ``{word}`` slot ("This is {word}."); None = bare words.
        aggregate: with templates, "word" averages a word's template embeddings and permutes words
            (recommended); "sentence" makes every sentence a unit, as the original SEAT.
        n_samples: the largest number of splits enumerated exactly, and the number sampled otherwise.
        seed: seed of the sampled permutations (sent-bias uses 1111).
        names: labels of X, Y, A, B for the result.
        test: a name for the test.

    Returns:
        A :class:`WeatResult` (``effect_size``, ``p_value``, per-unit associations, ``n_permutations``,
        ``exact``). Swapping X and Y flips the sign of the effect size.

    Example:
        >>> r = attnviz.bias.weat(model, ["rose", "tulip"], ["ant", "flea"], ["love", "peace"], ["death", "filth"])
    """
    if aggregate not in AGGREGATES:
        raise InputError(f"Unknown aggregate '{aggregate}': use one of {', '.join(AGGREGATES)}.")
    if n_samples < 1:
        raise InputError("n_samples must be at least 1.")
    lists = [_words(words, what) for words, what in zip((X, Y, A, B), ("X", "Y", "A", "B"))]
    overlap = set(lists[0]) & set(lists[1])
    if overlap:
        raise InputError(f"X and Y share {', '.join(sorted(overlap)[:5])}: a word cannot be in both target lists.")
    templates = tuple(templates or ())
    for t in templates:
        if t.count(WORD_SLOT) != 1:
            raise InputError(f"SEAT template “{t[:80]}” needs exactly one {WORD_SLOT} slot.")
    encode, model_name = embedder(model)
    vocab = list(dict.fromkeys(itertools.chain.from_iterable(lists)))
    texts = [fill(t, w) for w in vocab for t in templates] if templates else vocab
    vectors = encode(texts)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise InputError(f"The embedder returned shape {vectors.shape} for {len(texts)} texts.")
    per_word = len(templates) or 1
    by_word = {w: vectors[i * per_word:(i + 1) * per_word] for i, w in enumerate(vocab)}

    def units(words):
        if templates and aggregate == "sentence":
            return (np.concatenate([_normalise(by_word[w]) for w in words]),
                    [fill(t, w) for w in words for t in templates])
        return np.stack([_normalise(by_word[w]).mean(axis=0) for w in words]), list(words)

    (xv, xu), (yv, yu), (av, _), (bv, _) = (units(words) for words in lists)
    names = tuple(names) if names is not None else ("X", "Y", "A", "B")
    if len(names) != 4:
        raise InputError("names must give four labels: X, Y, A, B.")
    return weat_from_embeddings(xv, yv, av, bv, n_samples=n_samples, seed=seed, x_units=xu, y_units=yu,
                                names=names, templates=templates, aggregate=aggregate, model_name=model_name,
                                test=test)


def seat(model, X, Y, A, B, *, templates: Sequence[str] | None = None, **kwargs) -> WeatResult:
    """WEAT on sentences from bleached templates (default: the shipped ``seat_templates.csv``)."""
    if templates is None:
        templates = seat_templates()
    return weat(model, X, Y, A, B, templates=templates, **kwargs)


def run_tests(model, tests: Mapping[str, Mapping], *, templates: Sequence[str] | None = None,
              progress: Callable[[float, str], None] | None = None, **kwargs) -> list[WeatResult]:
    """Several named tests (as from :func:`attnviz.bias.assets.weat_tests`), one result each."""
    results = []
    for i, (name, spec) in enumerate(tests.items()):
        if progress is not None:
            progress(i / max(1, len(tests)), f"WEAT: {name}")
        roles = [spec[r] for r in ("X", "Y", "A", "B")]
        results.append(weat(model, *(words for _, words in roles), templates=templates,
                            names=[label for label, _ in roles], test=name, **kwargs))
    return results


def results_table(results: Sequence[WeatResult]) -> pd.DataFrame:
    """One row per test with d, p, Holm–Bonferroni adjusted p across the tests, exactness and sizes."""
    table = pd.DataFrame([r.summary() for r in results])
    if len(table):
        table.insert(table.columns.get_loc("p_value") + 1, "p_holm", holm_bonferroni(table["p_value"]))
    return table
