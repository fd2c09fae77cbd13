""""What am I looking at?": one paragraph per view, kept in one place so every page says the same thing.

Keys are ``"<page>/<view>"``; the attention page's keys use its view names. Texts are our own fixed
markdown (never built from user input), shown by ``attnviz.ui.guide``.
"""

from __future__ import annotations

_CAVEAT = ("Attention is not explanation: a large weight says information *can* flow from that token, not "
           "that it changed the output — check the Attribution page before drawing conclusions.")

GUIDANCE: dict[str, str] = {
    # ------------------------------------------------------------------ attention page
    "attention/Model view": (
        "Every layer (rows, input side at the top) × every head (columns) as a small heatmap: row = the token "
        "that reads (query), column = the token it reads from (key); darker = more weight, each row sums to 1. "
        "Each thumbnail is scaled to its own maximum, so compare patterns, not shades, between thumbnails. "
        "Use it to find heads worth a closer look: diagonal stripes (attend to self or the previous token), "
        "vertical bars (everyone reads [CLS]/[SEP] — often a 'no-op' sink), or blocks. "
        + _CAVEAT),
    "attention/Head view": (
        "Lines join each token on the left (query) to the tokens on the right (keys) it attends to; line "
        "opacity is the weight (0–1), one colour per selected head. Hover a token to see only its lines. "
        "Answers *which words does this token read from, in this layer?* — e.g. whether a pronoun's head "
        "links it to its referent. Tiny weights (< 0.01) are not drawn. " + _CAVEAT),
    "attention/Heatmap": (
        "One head of one layer: cell (row i, column j) is how much token i attends to token j, from 0 "
        "(white) to the head's maximum (dark); each row sums to 1 (less when special tokens are hidden). "
        "Answers *what does this one head do?* — compare the same head across inputs, e.g. the two halves "
        "of a gallery example. " + _CAVEAT),
    "attention/Mean over heads": (
        "The average of all heads of one layer: same axes and colours as the single-head heatmap. "
        "Averaging hides heads that do different things, so use it for the layer's overall tendency only, "
        "then look at individual heads. " + _CAVEAT),
    "attention/Rollout": (
        "Attention rollout (Abnar & Zuidema 2020) multiplies the head-averaged attention of every layer "
        "(plus the residual connection) to estimate how much each input token flows into each position at the "
        "top. The bar chart is the read-out position's row (e.g. [CLS] or the mean): one share per token, "
        "summing to 1. It mixes all layers, so it is closer to 'what reaches the output' than one head, but "
        "it ignores the values and the MLPs: still not an explanation. " + _CAVEAT),
    "attention/Head statistics": (
        "One number per head and layer: normalised entropy (1 = spread evenly over all tokens, 0 = one "
        "token), the mean weight on [CLS]/[SEP] (high = the head mostly idles on special tokens), on "
        "punctuation, on itself, on the previous and the next token, and the mean largest weight per row. Answers *which heads are broad, which are positional, which idle?* "
        "The table downloads as CSV. " + _CAVEAT),
    # ------------------------------------------------------------------ attribution page
    "attribution/scores": (
        "Each row is one explainer; each cell is a token's (or word's) score for the explained number f(x) "
        "shown above. Red pushes f up, blue pushes it down; rows are scaled to their own maximum |score|, so "
        "compare rankings across rows, not colours. Answers *which tokens mattered for this output?* Methods "
        "often disagree: a token that ranks high in most rows is a safer claim than any single row. "
        "Rollout and grad × attention are attention-based rows for comparison, not ground truth."),
    "attribution/agreement": (
        "How far two methods rank tokens alike (on |score|, special tokens dropped): Kendall τ and Spearman ρ "
        "from −1 (opposite) to 1 (same order), and top-k agreement = share of the k most important tokens "
        "that both methods pick (0–1). Low agreement means at least one explanation is unreliable for this "
        "input: look at faithfulness to see which."),
    "attribution/faithfulness": (
        "Faithfulness tests an explanation against the model: delete the top-ranked tokens and re-run. "
        "Comprehensiveness = drop in f when they are removed (higher = the ranking found what mattered); "
        "sufficiency = drop when *only* they are kept (lower = better); AOPC averages over 1–50 % of tokens. "
        "Grey bars are a random ranking: a method that does not beat random explains nothing about this input."),
    # ------------------------------------------------------------------ attribution methods ("method/<name>")
    "method/attention_flow": (
        "Attention flow (Abnar & Zuidema 2020) treats the layers as a network of pipes: each layer's "
        "head-averaged attention plus the residual (0.5·A + 0.5·I, as in rollout) gives the capacity from a "
        "position to the positions below it, and a token's score is the largest amount that can flow from the "
        "read-out position(s) at the top down to that input token, as a share of the total (scores sum to 1). "
        "Unlike rollout it does not multiply paths together, so it spreads credit more evenly and rarely lets "
        "one token dominate. It is exact but slow (one max-flow per pair of tokens), so it runs on inputs of "
        "at most 64 tokens. It reads only attention weights: " + _CAVEAT),
    "method/attention_norm": (
        "Norm-based attention (Kobayashi et al. 2020) weighs each attention weight by the size of what is "
        "actually moved: ‖α_ij · f(x_j)‖, where f(x_j) is token j's value vector passed through the head's "
        "share of the output projection. A large weight on a token whose transformed vector is tiny (often "
        "[CLS], [SEP] or punctuation) counts little. One layer (the last unless you choose another), heads "
        "summed as vectors before the norm; the score is the read-out row(s), as for rollout, in units of the "
        "hidden state's length, not shares. It still ignores the residual path, LayerNorm and the MLPs, and "
        "looks at one layer only, so it is a better reading of attention, not of the whole model."),
    "method/value_zeroing": (
        "Value zeroing (Mohebbi et al. 2023) asks the model directly: in one layer, remove token j's value "
        "vector (for every head and query) and measure how far each token's output of that layer turns away "
        "(cosine distance, 0 = unchanged). Each row is normalised to sum to 1, and the layers are combined "
        "as in rollout; the score is the read-out row(s), one share per token. Because the whole layer runs "
        "(residual, LayerNorm and MLP included), it reflects what the layer does with the token, not only "
        "where attention points. It costs one extra forward per token and layer (batched), so it is slower "
        "than rollout, and it measures a token's role inside the network, not its effect on the final "
        "output: compare with the gradient and perturbation rows."),
    "method/alti": (
        "ALTI (Ferrando et al. 2022) splits each layer's attention block output for a token (attention, the "
        "residual connection and the LayerNorm together) into one part per input token, and scores a part by "
        "how close it lies to the whole output (Manhattan distance): parts that point where the output points "
        "count, the rest count 0. Each row sums to 1 and the layers are combined as in rollout, so the score "
        "is each input token's share of the read-out position(s). It accounts for the values, the residual "
        "and LayerNorm that rollout ignores, but not for the MLPs, and it works for BERT-style encoders only. "
        "Like every attention-based row, it shows how information mixes, not what changed the output."),
    # ------------------------------------------------------------------ bias page
    "bias/counterfactual": (
        "The same template filled with different identity terms ('The {identity} person is a doctor.'): the "
        "change in f (e.g. the probability of 'positive') between groups is the counterfactual gap, with "
        "bootstrap 95 % intervals. Attribution share = how much of the explanation falls on the identity term "
        "(vs. a uniform share); attention mass = how much heads attend to it. A gap says the model's output "
        "depends on the term; attention mass alone does not show harm."),
    "bias/weat": (
        "WEAT/SEAT effect size (Cohen's d, from −2 to 2): how much closer target words X are to attribute A "
        "than Y are, in the model's embeddings, compared with B; p-value from random re-partitions of X ∪ Y. "
        "A significant effect shows an association in the geometry; it does not by itself predict biased "
        "decisions downstream."),
    "bias/pairs": (
        "CrowS-style pairs: a stereotyped and an anti-stereotyped sentence differing in a few words, scored "
        "by the language model's pseudo-log-likelihood of the shared words. The share of pairs where the "
        "stereotyped sentence scores higher is 50 % for an unbiased model; the per-pair difference shows "
        "which pairs drive it. Small hand-written sets give wide intervals."),
    # ------------------------------------------------------------------ lab page
    "lab/train": (
        "A small attention model trained live on a toy task: the curves are training loss (lower = better) "
        "and accuracy on held-out examples (share of answer positions right). The heatmaps show one head's "
        "attention at a chosen training step: watch the pattern form (e.g. a diagonal for copy, an "
        "anti-diagonal for reverse, a jump to the matching key for associative recall). Here the task is "
        "known, so you can check whether attention matches the algorithm the model must use."),
    "lab/step": (
        "Step through one head, recomputed by hand and checked against the model: the layer's input X, "
        "the head's Q, K and V, the scores (QKᵀ/√d or the chosen score function), the "
        "mask (−∞ = forbidden), the softmax that turns each row of scores into weights summing to 1, and the "
        "output A·V. "
        "Re-scoring with another function shows how much the pattern depends on that choice."),
    "lab/files": (
        "Save the trained lab model as one safetensors file (weights plus its JSON config; never a pickle, so "
        "loading a file cannot run code) and load it back later to keep inspecting it, or send it to the "
        "other pages, where every view works on it as on a pretrained model — for this browser session only: "
        "lab models are not in shareable links, so share the file instead."),
    # ------------------------------------------------------------------ compare two page
    "compare_two/attention": (
        "A and B side by side (row = the token that reads, column = the token it reads from; each row sums to "
        "1), and below them B − A on aligned positions: red = B attends more, blue = A attends more, white = no "
        "change; the colour scale is symmetric around 0 and set by the largest |B − A| in the view, so pale "
        "does not mean zero. Positions are aligned by matching tokens (or words); a swap of the same length "
        "(he → she) is shown as one position 'he→she'. Tokens with no partner are gaps: blank rows and columns "
        "labelled 'A only' / 'B only', never compared. With two models only the mean over heads per aligned "
        "word is compared (different heads and tokenizers). The grid below ranks heads by mean |B − A|. "
        "Answers *where does the attention pattern change when the input (or the model) changes?* "
        + _CAVEAT),
    "compare_two/attribution": (
        "The same explainers run on A and B. With one model both sides explain the *same target* — the label "
        "predicted for A — so B − A says how each token's contribution to that one number changed (red: more "
        "in B, blue: more in A; each method's row scaled to its own max |B − A|, raw values in the hover). "
        "Explaining each side's own prediction would compare answers to different questions. With two models "
        "the numbers differ by construction, so scores are compared as shares of each side's total |score| "
        "(shapes, not sizes). Gaps (tokens only in A or only in B) have no difference. Answers *did the "
        "swapped word change what the model relied on, and did the output change?* — read the explained "
        "values above the chart first."),
    # ------------------------------------------------------------------ generate page
    "generate/continuation": (
        "The continuation the model wrote, one token per step, and each generated token's probability when it "
        "was chosen (the highlighted bar is the token you picked). Greedy decoding always takes the most "
        "probable token; sampling draws from the distribution (after temperature and top-k), so a low bar can "
        "still be chosen — the same seed gives the same text. The list under the chart gives the step's most "
        "probable alternatives. Answers *how sure was the model at each step, and what else could it have "
        "written?*"),
    "generate/attention": (
        "Two rows belong to a generated token. 'That produced the token' is the row of the position *before* "
        "it: the attention of the step whose output predicted it — the one that matters for why it was "
        "written. 'The token's own' row is what it attends to once it is in the context, used to predict the "
        "*next* token. Each row covers the prompt and the tokens generated so far (a causal model never looks "
        "ahead), sums to 1 per head, darker = more weight; 'every layer' shows one row per layer averaged "
        "over heads, a single layer shows one row per head. Large weights on the first token are often a "
        "resting place (a sink), not meaning. " + _CAVEAT),
    "generate/attribution": (
        "The attribution explains one number: the probability the model gave to the chosen token at its step, "
        "p(next = token | prompt + the tokens generated before it). Each earlier token gets a score: red "
        "raised that probability, blue lowered it; the row is scaled to its largest |score|. Later tokens are "
        "not inputs of that step, so they get no score. Methods differ (gradients are local, occlusion and "
        "SHAP remove tokens): where they agree the claim is safer. Answers *which words of the context made "
        "this token likely?* — unlike the attention rows, it measures effect on the output."),
    # ------------------------------------------------------------------ audit page
    "audit/predictions": (
        "What the model said about the whole dataset. The histogram counts examples by the explained output "
        "(the predicted label's probability, or the model's score), so a heap near 0.5 means many unsure "
        "decisions; with a label column, the confusion matrix counts gold labels (rows) against predicted "
        "labels (columns) and accuracy is the share on the diagonal. Accuracy on a small or unbalanced sample "
        "says little: check the counts per class, and the Slices tab for groups where it drops. Answers *how "
        "often is the model right here, and how sure is it?* — nothing yet about why."),
    "audit/heads": (
        "One cell per head (rows = layers, columns = heads), from the head statistics of Clark et al. (2019) "
        "averaged over every example. The colour is the head's pattern: *positional* (previous token, next "
        "token, self) when at least half of its weight goes to that neighbour; *special tokens* when at least "
        "60% goes to [CLS]/[SEP] — often a resting place (a 'no-op' sink), not meaning; *punctuation*; "
        "*broad* when the weight is spread over many tokens (normalised entropy ≥ 0.8, 1 = uniform); "
        "otherwise *mixed*. The cell text is the share of examples in which the head shows that same pattern "
        "on its own, so 0.9 means a stable habit and 0.3 an average of different behaviours. The two maps "
        "below give the mean attention to special tokens and the mean entropy. These describe where the "
        "weights go, not what the head contributes to the prediction. " + _CAVEAT),
    "audit/top_words": (
        "For each predicted class, the words with the highest mean score from one method over the examples "
        "predicted as that class (lower-cased, subwords joined; words seen only once are left out when enough "
        "others qualify). A word at the top is one the explainer credited strongly whenever it appeared — not "
        "proof that the model uses it as a rule: attribution is not causation. Frequency matters both ways: "
        "a word seen in two examples can top the list by chance, and a common word (a name, a topic word) may "
        "simply co-occur with the class in this dataset. Check the count in the hover, compare the methods, "
        "and test a suspicious word directly, e.g. by swapping it on the Compare two page. Answers *which "
        "words does the model seem to lean on for each class across the dataset?*"),
    "audit/agreement": (
        "Agreement: for every example and every pair of methods, the rank correlation (Spearman) of their "
        "word scores; the box shows the spread over the examples. Near 1 the methods tell the same story, "
        "near 0 or below they disagree and no single one should be trusted for those examples. Faithfulness "
        "(ERASER, DeYoung et al. 2020): *comprehensiveness* is how much the output drops when the top-scored "
        "words are deleted (higher = the method found words that matter), *sufficiency* how much it drops "
        "when only those words are kept (lower = they are enough). Both re-run the model on edited inputs, "
        "which may be unlike real text, so read them against the *random* ranking (the baseline row) and "
        "between methods, not as an absolute grade."),
    "audit/slices": (
        "The results broken down by the values of a column you chose (e.g. topic or source): the number of "
        "examples, the accuracy (with gold labels), the mean output, the share of each predicted label and the "
        "mean agreement and comprehensiveness of the first method per value. A slice where accuracy "
        "drops, or the output shifts, is where to look closer — but small slices are noisy: a few examples "
        "can swing the accuracy a lot, so check the count before drawing a conclusion. A difference between "
        "slices shows *that* the model treats them differently, not *why*: use the Top words tab and the "
        "example table to look for causes."),
    "audit/bias": (
        "A counterfactual probe on the shipped templates: the same sentence with one identity term swapped "
        "(e.g. he → she, one religion for another), and the model's output for each version. The gap per axis "
        "is how much the output moves when only the identity term changes (0 = no effect); the table gives "
        "the mean output per group. A large gap is evidence that the term itself changes the decision. A "
        "small gap on these templates does not show the model is fair on your data: templates are short and "
        "artificial, and other words can carry the same bias. See the Bias probes page for the details."),
    "audit/examples": (
        "One row per example, as in results.csv: the text, the gold and predicted labels, the output and "
        "class probabilities, the three highest-scored words per method, the completeness gap of the "
        "gradient methods (how far the scores fall short of summing to the output change), agreement and "
        "faithfulness, slice values and any error. Sort a column by clicking its header, e.g. to find the "
        "least faithful or the most uncertain examples, then open one on the Attribution page to look at "
        "it on its own."),
    "method/integrated_gradients": (
        "Integrated Gradients (Sundararajan et al. 2017) adds up the gradient of f along the straight path from a "
        "baseline (every word replaced by [PAD], special tokens kept) to the input: each token's score is its "
        "share of f(x) − f(baseline), and the scores add up to that difference up to a small completeness gap. "
        "By default the steps along the path are chosen for you: a 20-point Gauss-Legendre rule first, then "
        "larger ones (28, 40, …) until the gap is at most 0.01 (settings: steps_used, tol_reached); with "
        "n_steps alone captum's fixed rule of that many points is used instead (its default is 50). A large gap means the scores do not yet add up: raise "
        "the steps or lower tol."),
    # ------------------------------------------------------------------ heads page
    "leaderboard/table": (
        "Every explainer scored the same way on the same examples. For each example, words are ranked by the "
        "method's positive score and deleted: comprehensiveness is how much f drops when the top words go "
        "(higher is better), sufficiency how much it drops when only they stay (lower is better), both "
        "averaged over the top 1/5/10/20/50 % (AOPC); deletion AUC is the area under f as words are removed "
        "one by one (lower is better), insertion AUC the area as they are added back (higher is better). Dots "
        "are means over examples, bars 95 % bootstrap intervals; grey is a random ranking — a method whose "
        "interval overlaps it is no more faithful than chance here. Deleting words makes inputs the model "
        "never saw, so treat small differences with care."),
    "leaderboard/agreement": (
        "How similarly two methods rank the words: Spearman's ρ between their absolute scores, averaged over "
        "the examples (1 = same order, 0 = unrelated, negative = opposite). Methods that disagree cannot both "
        "be right about which words mattered (Krishna et al. 2022, the disagreement problem): look at which of "
        "them is more faithful in the table above before trusting either."),
    "heads/importance": (
        "Each cell is one head (column) of one layer (row, input side at the top): how strongly the explained "
        "number f reacts when that head's output is scaled, |∂f/∂ξ| at ξ = 1 (Michel et al. 2019), averaged "
        "over the texts above. Bright heads are the ones f depends on for these texts; dark heads could be "
        "removed with little change. It is a first-order estimate: check a head by ablating it below."),
    "heads/ablation": (
        "The chosen heads are removed from the first text's forward pass: their output is zeroed (or replaced "
        "by its mean over the positions) before the output projection. The numbers compare the model's output "
        "(for a sentence-embedding model its normalised sentence embedding) with and without them: cosine 1 "
        "means nothing changed. The heatmap shows how much each head's attention pattern moved: heads in "
        "later layers change because their inputs changed; the removed heads' own weights stay the same."),
    "heads/prune": (
        "Heads are removed in order of importance, least important first, and f is read on the sample texts "
        "after each step (k = 0 is the whole model). The solid line is the mean f; the dotted one the share of "
        "texts whose f keeps at least half its value. A flat start says many heads can go with little effect, "
        "as Michel et al. found; a sudden drop marks where heads that matter start being removed."),
    "heads/patching": (
        "Activation patching (Meng et al. 2022): the corrupted text is run again with one activation taken "
        "from the clean run, and the cell shows how much of the output gap f(clean) − f(corrupted) that one "
        "activation brings back (1 = all of it, 0 = nothing, negative = it moves f further away). Left: the "
        "residual stream after each layer (rows) at each position (columns; changed words read 'clean → "
        "corrupted'). Right: one head's output at every position. AtP (Kramár et al. 2024) estimates every "
        "cell from one gradient, (a_clean − a_corrupted)·∂f/∂a; the agreement line says how well its ranking "
        "matches the real patches. AtP is poor where f saturates (a probability near 0 or 1): explain a "
        "logit or log-probability then. Both texts must have the same number of tokens."),
}


def method_guidance(method: str) -> str | None:
    """The paragraph about one attribution method (``"method/<name>"``), or None where there is none."""
    return GUIDANCE.get(f"method/{method}")


def guidance(key: str) -> str:
    """The paragraph for ``"<page>/<view>"``.

    Raises:
        KeyError: no text for that view (a test keeps every view covered).
    """
    return GUIDANCE[key]
