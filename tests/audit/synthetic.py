"""Hand-built audit results: aggregates, figures and reports are checked against numbers written here."""

import numpy as np

from attnviz.audit.results import STAT_NAMES, AuditResult, ExampleResult

L, H = 2, 3
S = len(STAT_NAMES)


def stats(rng, special_head=(0, 0), prev_head=(1, 2)):
    """[L, H, S] statistics: one head always on [CLS], one always on the previous token, others mixed."""
    arr = rng.uniform(0.0, 0.3, size=(L, H, S)).astype(np.float32)
    arr[..., STAT_NAMES.index("entropy_norm")] = rng.uniform(0.3, 0.6, size=(L, H))
    arr[special_head + (STAT_NAMES.index("to_cls"),)] = 0.8
    arr[prev_head + (STAT_NAMES.index("to_prev"),)] = 0.7
    return arr


def example(i, words, scores, *, predicted, gold=None, group=None, rng, faith=None, agreement=None):
    tokens = ("[CLS]", *words, "[SEP]")
    kinds = ("cls", *["text"] * len(words), "sep")
    word_groups = tuple((t, (j,)) for j, t in enumerate(tokens))
    return ExampleResult(
        index=i, text=" ".join(words), gold=gold, slices={"group": group}, tokens=tokens, kinds=kinds,
        words=word_groups, predicted=predicted, target=f"p({predicted} | x)",
        probabilities={"positive": 0.9 if predicted == "positive" else 0.1,
                       "negative": 0.1 if predicted == "positive" else 0.9},
        output=0.9, scores={"integrated_gradients": np.array([0.0, *scores, 0.0], dtype=np.float32)},
        head_stats=stats(rng), rollout=np.full(len(tokens), 1 / len(tokens), dtype=np.float32),
        faithfulness=faith or {}, agreement=agreement or {})


def make_synthetic_result():
    rng = np.random.default_rng(0)
    f = lambda c, s: {"comprehensiveness": c, "sufficiency": s, "deletion_auc": 0.5, "insertion_auc": 0.5}  # noqa: E731
    examples = (
        example(0, ["great", "film"], [0.6, 0.1], predicted="positive", gold="positive", group="a", rng=rng,
                faith={"integrated_gradients": f(0.5, 0.1), "random": f(0.1, 0.3)},
                agreement={"integrated_gradients|saliency": {"spearman": 0.5}}),
        example(1, ["great", "soup"], [0.4, 0.2], predicted="positive", gold="negative", group="a", rng=rng,
                faith={"integrated_gradients": f(0.05, 0.1), "random": f(0.1, 0.3)},
                agreement={"integrated_gradients|saliency": {"spearman": 0.1}}),
        example(2, ["awful", "soup", "<b>x</b>"], [0.7, 0.3, 0.0], predicted="negative", gold="negative",
                group="b", rng=rng, faith={"integrated_gradients": f(0.3, 0.0), "random": f(0.2, 0.2)}),
        ExampleResult(index=3, text="\x00", status="error", error="The text is empty"),
    )
    return AuditResult(examples, {"methods": ["integrated_gradients"]}, {"model": {"name": "m", "weights_sha256": "ab"},
                       "versions": {"attnviz": "0.1.0"}, "finished_utc": "2026-01-01T00:00:00+00:00"},
                       {"source": "d.csv", "notes": []}, total=5, layers=L, heads=H,
                       label_names=("positive", "negative"), slice_columns=("group",))
