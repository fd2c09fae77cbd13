"""Bias probes tied to attention and attribution.

    >>> import attnviz, attnviz.bias as bias
    >>> model = attnviz.load_model()
    >>> bias.weat(model, flowers, insects, pleasant, unpleasant).effect_size   # WEAT / SEAT
    >>> bias.counterfactual(model, axes=["religion"]).axes                     # CTF gaps + where it happens
    >>> bias.compare_pairs(attnviz.load_model("bert-base-uncased")).metric     # CrowS-style pairs

Modules: :mod:`.counterfactual` (identity-term swaps for any target, attribution share and attention
mass on the term), :mod:`.weat` (WEAT/SEAT), :mod:`.mlm` (sentence-pair likelihoods), :mod:`.assets`
(shipped and uploaded CSVs), :mod:`.stats` (bootstrap intervals). Nothing here imports streamlit.
"""

from .assets import read_csv, seat_templates, validate, weat_tests, word_lists
from .counterfactual import (
    CounterfactualResult,
    counterfactual,
    ctf_gap,
    fill_templates,
    identity_attention,
    identity_attribution,
    measure,
    score_fills,
    summarise,
)
from .mlm import PairsResult, compare_pairs, pseudo_log_likelihood
from .stats import bootstrap_ci, holm_bonferroni
from .weat import WeatResult, results_table, run_tests, seat, weat, weat_from_embeddings

__all__ = [
    "CounterfactualResult", "PairsResult", "WeatResult", "bootstrap_ci", "compare_pairs",
    "counterfactual", "ctf_gap", "fill_templates", "holm_bonferroni", "identity_attention", "identity_attribution",
    "measure", "pseudo_log_likelihood", "read_csv", "results_table", "run_tests", "score_fills", "seat", "seat_templates",
    "summarise", "validate", "weat", "weat_from_embeddings", "weat_tests", "word_lists",
]
