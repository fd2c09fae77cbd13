"""What is explained: a scalar f(x) for each kind of model.

Every attribution method explains one number. A *target* says which: a classifier's class
probability, a zero-shot label probability for sentence-embedding models (the bundled MiniLM has no
classifier head), a similarity to a reference sentence, a masked token's probability or a causal LM's
next-token probability. Targets are small frozen dataclasses (hashable: they key the page caches);
:func:`bind` turns one into a :class:`Scorer` for a model and an input.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import InputError
from .encoding import SPECIAL_KINDS, check_text, pad_batch, pad_token_id, writable_ids

OUTPUTS = ("probability", "log_probability", "logit")

SENTIMENT_LABELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("positive", ("This is a positive, happy sentence.", "I love it, it is wonderful and great.",
                  "A good, pleasant, delightful experience.")),
    ("negative", ("This is a negative, sad sentence.", "I hate it, it is terrible and awful.",
                  "A bad, unpleasant, disappointing experience.")),
)
DEFAULT_TEMPERATURE = 0.05


@dataclass(frozen=True)
class ClassTarget:
    """A sequence classifier's class (index or label name); None explains the predicted class."""

    label: int | str | None = None
    output: str = "probability"


@dataclass(frozen=True)
class ZeroShotTarget:
    """Zero-shot classification with a sentence-embedding model.

    z_c = cos(e(x), ē_c) where e is the L2-normalised embedding pooled as the checkpoint's sentence-transformers
    Pooling config says (mean unless it names the cls or last token: what its ``encode`` returns) and ē_c
    the normalised mean embedding of the label's descriptions; p(c|x) = softmax_c(z_c / temperature). ``output="similarity"`` explains z_c itself.
    """

    labels: tuple[tuple[str, tuple[str, ...]], ...] = SENTIMENT_LABELS
    label: str | None = None
    temperature: float = DEFAULT_TEMPERATURE
    output: str = "probability"

    @classmethod
    def from_dict(cls, labels: dict[str, list[str] | str], **kwargs) -> ZeroShotTarget:
        items = []
        for name, descriptions in labels.items():
            descs = (descriptions,) if isinstance(descriptions, str) else tuple(descriptions)
            descs = tuple(d.strip() for d in descs if d and d.strip())
            if not str(name).strip() or not descs:
                raise InputError("Each zero-shot label needs a name and at least one description.")
            items.append((str(name).strip(), descs))
        if len(items) < 2 and kwargs.get("output", "probability") != "similarity":
            raise InputError("Zero-shot classification needs at least two labels.")
        return cls(labels=tuple(items), **kwargs)


def labels_to_text(labels) -> str:
    """Zero-shot labels as editable text: one line per label, ``name: description | description``."""
    return "\n".join(f"{name}: " + " | ".join(descs) for name, descs in labels)


def parse_labels(text: str) -> dict[str, list[str]]:
    """The inverse of :func:`labels_to_text`; a line without ':' is its own description."""
    labels = {}
    for line in text.splitlines():
        if line.strip():
            name, _, descs = line.partition(":")
            labels[name.strip()] = descs.split("|") if descs.strip() else [name.strip()]
    return labels


@dataclass(frozen=True)
class SimilarityTarget:
    """cos(e(x), e(reference)) with the reference embedding held fixed."""

    reference: str = ""


@dataclass(frozen=True)
class MaskedTokenTarget:
    """Probability of ``token`` at the (first) mask token of the text; None = the top prediction."""

    token: str | None = None
    output: str = "probability"


@dataclass(frozen=True)
class NextTokenTarget:
    """Probability of the next token after the text (causal LMs); None = the top prediction.

    ``token_id`` names the token by its id instead (what generation explains: a generated token's
    string need not re-tokenise to that one id, e.g. a partial UTF-8 byte).
    """

    token: str | None = None
    output: str = "probability"
    token_id: int | None = None


Target = ClassTarget | ZeroShotTarget | SimilarityTarget | MaskedTokenTarget | NextTokenTarget


def default_target(handle) -> Target:
    """What a model explains when the user names nothing."""
    head = type(handle.model).__name__
    if head.endswith("ForSequenceClassification"):
        return ClassTarget()
    if head.endswith("ForMaskedLM"):
        return MaskedTokenTarget()
    if handle.kind == "decoder":
        return NextTokenTarget()
    if handle.kind == "encoder":
        return ZeroShotTarget()
    raise InputError(f"No attribution target is defined for {handle.kind} models yet.")


# ------------------------------------------------------------ choices
#: What a page or the CLI may offer to explain, by kind: a short title for each.
TARGET_KINDS = {
    "zero-shot": "zero-shot label probability (sentence embedding vs label descriptions)",
    "similarity": "similarity to a reference sentence",
    "class": "a class of the model's classifier",
    "masked-token": "the token predicted at the mask",
    "next-token": "the next token",
}


def target_kinds(handle) -> tuple[str, ...]:
    """The target kinds this model can explain, its natural one first (see :data:`TARGET_KINDS`)."""
    natural = default_target(handle)
    if isinstance(natural, ZeroShotTarget):
        return ("zero-shot", "similarity")
    if isinstance(natural, ClassTarget):
        return ("class",)
    if isinstance(natural, MaskedTokenTarget):
        return ("masked-token",)
    return ("next-token",)


def class_names(handle) -> list[str]:
    """A classifier's class names in index order (its config's id2label; LABEL_i where it has none)."""
    id2label = getattr(handle.config, "id2label", None) or {}
    count = int(getattr(handle.config, "num_labels", len(id2label)) or len(id2label))
    return [str(id2label.get(i, f"LABEL_{i}")) for i in range(count)]


def build_target(kind: str, *, labels: str | dict | None = None, label: str | int | None = None,
                 temperature: float = DEFAULT_TEMPERATURE, reference: str = "", token: str | None = None,
                 output: str = "probability") -> Target:
    """The target a form describes: one builder for every page, the CLI and the bias probes.

    Args:
        kind: a key of :data:`TARGET_KINDS`.
        labels: zero-shot labels, as a dict or as text (``name: description | description`` per line).
        label: the label/class to explain (name or class index); None or "" = the predicted one.
        temperature: zero-shot softmax temperature τ.
        reference: the reference sentence of a similarity target.
        token: the token whose probability is explained (masked/next token); None or "" = the top one.
    """
    label = None if label is None or (isinstance(label, str) and not label.strip()) else label
    label = label.strip() if isinstance(label, str) else label
    token = token.strip() if isinstance(token, str) and token.strip() else None
    if kind == "zero-shot":
        parsed = parse_labels(labels) if isinstance(labels, str) else dict(labels or {})
        if not parsed:
            return ZeroShotTarget(label=label, temperature=float(temperature), output=output)
        return ZeroShotTarget.from_dict(parsed, label=label, temperature=float(temperature), output=output)
    if kind == "similarity":
        return SimilarityTarget(reference)
    if kind == "class":
        return ClassTarget(label, output=output)
    if kind == "masked-token":
        return MaskedTokenTarget(token, output=output)
    if kind == "next-token":
        return NextTokenTarget(token, output=output)
    raise InputError(f"Unknown target kind '{kind}': use one of {', '.join(TARGET_KINDS)}.")


# ------------------------------------------------------------------ scorer
@dataclass
class Scorer:
    """f for one model and one input: call it on a batch, get one number per row.

    ``fixed`` are token positions that perturbation methods must keep (special tokens and, for a
    masked-LM target, the mask being predicted). ``fn(outputs, attention_mask, input_ids, index=None)``
    gives f per row; ``index`` [b] makes each row explain its own class (label targets), None the bound one.
    """

    handle: object
    target: Target
    description: str
    label: str
    fn: object
    fixed: frozenset = field(default_factory=frozenset)
    label_probabilities: dict = field(default_factory=dict)
    is_probability: bool = True

    def __call__(self, *, input_ids=None, inputs_embeds=None, attention_mask, token_type_ids=None) -> torch.Tensor:
        kwargs = {"attention_mask": attention_mask}
        if inputs_embeds is not None:
            kwargs["inputs_embeds"] = inputs_embeds
        else:
            kwargs["input_ids"] = input_ids
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.fn(self.handle.model(**kwargs), attention_mask, input_ids)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Normalised mean over unmasked tokens, as sentence-transformers' Pooling + Normalize."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=-1)


def sentence_pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str | None) -> torch.Tensor:
    """Normalised sentence embedding pooled as the checkpoint says (``handle.pooling``, read from its
    sentence-transformers Pooling config): "cls" (first token), "last" (last unmasked token, right padding),
    else the mean over unmasked tokens."""
    if pooling == "cls":
        return F.normalize(hidden[:, 0], p=2, dim=-1)
    if pooling == "last":
        last = (attention_mask.sum(1) - 1).clamp(min=0).to(hidden.device)
        return F.normalize(hidden[torch.arange(hidden.shape[0], device=hidden.device), last], p=2, dim=-1)
    return mean_pool(hidden, attention_mask)


def sentence_embedding(handle, texts: list[str]) -> torch.Tensor:
    """[len(texts), d] normalised embeddings, batched, no gradient."""
    tok = handle.tokenizer  # padded here, not by the tokenizer: one without a pad token (GPT-2) works too
    enc = tok(texts, truncation=True, max_length=handle.sentence_max_length)
    rows = [{k: enc[k][i] for k in ("input_ids", "token_type_ids") if k in enc} for i in range(len(texts))]
    enc = pad_batch(rows, handle.device, pad_token_id(tok))
    out, _ = handle.forward(enc, need_weights=False)
    return sentence_pool(last_hidden(out), enc["attention_mask"], getattr(handle, "pooling", None)).float()


def last_hidden(outputs) -> torch.Tensor:
    hidden = getattr(outputs, "last_hidden_state", None)
    if hidden is None:
        hidden = outputs.hidden_states[-1] if getattr(outputs, "hidden_states", None) else None
    if hidden is None:
        raise InputError("This model returns no hidden states to embed; choose a classifier or LM target.")
    return hidden


_LABEL_CACHE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=32)
def _label_embeddings(handle, labels) -> torch.Tensor:
    """[labels, d]: each label's descriptions embedded, averaged and renormalised (cached per model)."""
    rows = []
    for _, descriptions in labels:
        rows.append(F.normalize(sentence_embedding(handle, list(descriptions)).mean(0), dim=-1))
    return torch.stack(rows)


def label_embeddings(handle, labels) -> torch.Tensor:
    with _LABEL_CACHE_LOCK:
        return _label_embeddings(handle, labels)


def bind(handle, target: Target | None, encoding) -> Scorer:
    """Resolve ``target`` for this model and input (e.g. None → the predicted class)."""
    target = default_target(handle) if target is None else target
    fixed = frozenset(i for i, k in enumerate(encoding.kinds) if k in SPECIAL_KINDS)
    if isinstance(target, (ZeroShotTarget, ClassTarget)):
        return _bind_label(handle, label_head(handle, target), target, encoding, fixed)
    if isinstance(target, SimilarityTarget):
        return _bind_similarity(handle, target, fixed)
    if isinstance(target, MaskedTokenTarget):
        return _bind_masked(handle, target, encoding, fixed)
    if isinstance(target, NextTokenTarget):
        return _bind_next(handle, target, encoding, fixed)
    raise InputError(f"Unknown target {target!r}.")


def _check_output(output: str, allowed=OUTPUTS):
    if output not in allowed:
        raise InputError(f"Unknown output '{output}': use one of {', '.join(allowed)}.")


def _reduce(logits: torch.Tensor, index, output: str) -> torch.Tensor:
    """logits [b, classes] → [b] in the requested output space for class ``index``."""
    if output == "logit":
        return logits[:, index]
    logp = torch.log_softmax(logits.float(), dim=-1)[:, index]
    return logp if output == "log_probability" else logp.exp()


def _probe(handle, encoding):
    with torch.no_grad():
        out, _ = handle.forward(dict(encoding.inputs), need_weights=False)
    return out


# ------------------------------------------------------------ label targets
@dataclass(frozen=True)
class LabelHead:
    """The formulas of a target with classes (zero-shot labels, a classifier's classes), for a batch.

    ``probabilities(outputs, mask)`` → [b, C]; ``value(outputs, mask, index)`` → [b], the explained
    output of class ``index[row]`` for each row. Single texts and whole batches use these same formulas.
    """

    names: tuple[str, ...]
    probabilities: object
    value: object
    chosen: int | None  # the class the user named, None = each input's predicted class
    output: str
    describe: object  # index -> the target's description for that class

    def fn(self, index: int):
        """f for a bound class: ``fn(outputs, mask, ids, index=None)`` (a per-row ``index`` overrides it)."""

        def fn(outputs, attention_mask, _ids=None, rows_index=None):
            b = attention_mask.shape[0]
            if rows_index is None:
                rows_index = torch.full((b,), index, dtype=torch.long, device=attention_mask.device)
            return self.value(outputs, attention_mask, rows_index)

        return fn


def _rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return values[torch.arange(values.shape[0], device=values.device), index.to(values.device)]


def label_head(handle, target) -> LabelHead | None:
    """The :class:`LabelHead` of a zero-shot or class target (None for the other targets).

    Raises:
        InputError: bad settings (temperature, output, duplicate names, no classifier head).
    """
    if isinstance(target, ZeroShotTarget):
        return _zero_shot_head(handle, target)
    if isinstance(target, ClassTarget):
        return _class_head(handle, target)
    return None


def _zero_shot_head(handle, target: ZeroShotTarget) -> LabelHead:
    _check_output(target.output, ("probability", "log_probability", "similarity"))
    if target.temperature <= 0 or target.temperature != target.temperature:
        raise InputError("The temperature must be a positive number (e.g. 0.05).")
    names = tuple(name for name, _ in target.labels)
    if len(set(names)) != len(names):
        raise InputError("Zero-shot label names must be distinct.")
    anchors = label_embeddings(handle, target.labels)
    temperature, output = float(target.temperature), target.output

    def similarities(outputs, attention_mask):
        return sentence_pool(last_hidden(outputs), attention_mask, getattr(handle, "pooling", None)).float() @ anchors.T

    def value(outputs, attention_mask, index):
        z = similarities(outputs, attention_mask)
        if output == "similarity":
            return _rows(z, index)
        logp = _rows(torch.log_softmax(z / temperature, dim=-1), index)
        return logp if output == "log_probability" else logp.exp()

    what = {"similarity": "cos(e(x), ē_{c})", "log_probability": "log p({c} | x)", "probability": "p({c} | x)"}
    chosen = None if target.label is None else _index_of(target.label, list(names))
    return LabelHead(names, lambda o, m: torch.softmax(similarities(o, m) / temperature, -1), value, chosen, output,
                     lambda i: what[output].replace("{c}", names[i]) + f" — zero-shot, τ = {temperature:g}")


def _class_head(handle, target: ClassTarget) -> LabelHead:
    _check_output(target.output)
    if not type(handle.model).__name__.endswith("ForSequenceClassification"):
        raise InputError("This model has no sequence-classification head; use a zero-shot or LM target.")
    names = tuple(class_names(handle))
    output = target.output

    def value(outputs, _mask, index):
        if output == "logit":
            return _rows(outputs.logits, index)
        logp = _rows(torch.log_softmax(outputs.logits.float(), -1), index)
        return logp if output == "log_probability" else logp.exp()

    desc = {"probability": "p({c} | x)", "log_probability": "log p({c} | x)", "logit": "logit of {c}"}[output]
    chosen = None if target.label is None else _index_of(target.label, list(names))
    return LabelHead(names, lambda o, m: torch.softmax(o.logits.float(), -1), value, chosen, output,
                     lambda i: desc.replace("{c}", names[i]))


def _bind_label(handle, head: LabelHead, target, encoding, fixed) -> Scorer:
    with torch.no_grad():
        probs = head.probabilities(_probe(handle, encoding), encoding.inputs["attention_mask"])[0]
    index = int(probs.argmax()) if head.chosen is None else head.chosen
    return Scorer(handle, target, head.describe(index), head.names[index], head.fn(index), fixed,
                  {n: float(p) for n, p in zip(head.names, probs.tolist())}, head.output == "probability")


def _bind_similarity(handle, target: SimilarityTarget, fixed) -> Scorer:
    reference = check_text(target.reference, "reference sentence")
    anchor = sentence_embedding(handle, [reference])[0]

    def fn(outputs, attention_mask, _ids=None, _index=None):
        return sentence_pool(last_hidden(outputs), attention_mask, getattr(handle, "pooling", None)).float() @ anchor

    return Scorer(handle, target, f"cos(e(x), e(“{reference[:60]}”))", "similarity", fn, fixed,
                  is_probability=False)


def _index_of(label, names: list[str]) -> int:
    if isinstance(label, int):
        if not 0 <= label < len(names):
            raise InputError(f"Class {label} does not exist: choose 0–{len(names) - 1}.")
        return label
    if label not in names:
        raise InputError(f"Unknown label '{label}': choose one of {', '.join(map(str, names))}.")
    return names.index(label)


def _token_id(handle, token: str) -> int:
    tok = handle.tokenizer
    ids = tok(token, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        pieces = tok.convert_ids_to_tokens(ids)
        raise InputError(f"'{token}' is {len(ids)} tokens ({' '.join(pieces)}); choose a single token.")
    return ids[0]


def _bind_masked(handle, target: MaskedTokenTarget, encoding, fixed) -> Scorer:
    _check_output(target.output)
    tok = handle.tokenizer
    ids = encoding.inputs["input_ids"][0].tolist()
    if tok.mask_token_id is None or tok.mask_token_id not in ids:
        raise InputError(f"Put the mask token {tok.mask_token or '[MASK]'} in the text where a word is to be predicted.")
    position = ids.index(tok.mask_token_id)
    logits = _probe(handle, encoding).logits[0, position]
    logits = logits[:writable_ids(tok, logits.shape[-1])]  # the prediction among tokens the tokenizer has
    index = int(logits.argmax()) if target.token is None else _token_id(handle, target.token)
    word = tok.convert_ids_to_tokens(index)
    output, mask_id = target.output, tok.mask_token_id

    def fn(outputs, attention_mask, input_ids=None, _index=None):
        # The predicted position moves when tokens before it are deleted: find the mask in each row.
        pos = (input_ids == mask_id).int().argmax(-1) if input_ids is not None else torch.full(
            (outputs.logits.shape[0],), position, device=outputs.logits.device)
        rows = outputs.logits[torch.arange(outputs.logits.shape[0], device=pos.device), pos]
        return _reduce(rows, index, output)

    probs = torch.softmax(logits.float(), -1)
    top = torch.topk(probs, 5)
    return Scorer(handle, target, f"p({word} at {tok.mask_token} | x)" if output == "probability" else
                  f"{output} of {word} at {tok.mask_token}", word, fn, fixed | {position},
                  {tok.convert_ids_to_tokens(int(i)): float(p) for p, i in zip(top.values, top.indices)},
                  output == "probability")


def _bind_next(handle, target: NextTokenTarget, encoding, fixed) -> Scorer:
    _check_output(target.output)
    tok = handle.tokenizer
    logits = _probe(handle, encoding).logits[0, -1]
    if target.token_id is not None:
        if not 0 <= int(target.token_id) < logits.shape[-1]:
            raise InputError(f"Token id {target.token_id} does not exist: this model has {logits.shape[-1]} tokens.")
        index = int(target.token_id)
    else:
        index = int(logits[:writable_ids(tok, logits.shape[-1])].argmax()) if target.token is None else _token_id(
            handle, target.token)
    word = tok.convert_ids_to_tokens(index)
    output = target.output
    logits = logits[:writable_ids(tok, logits.shape[-1])]  # the top five shown: tokens the tokenizer has

    def fn(outputs, attention_mask, _ids=None, _index=None):
        last = attention_mask.sum(-1) - 1  # right padding: the last real token predicts the next one
        rows = outputs.logits[torch.arange(outputs.logits.shape[0], device=last.device), last]
        return _reduce(rows, index, output)

    probs = torch.softmax(logits.float(), -1)
    top = torch.topk(probs, 5)
    return Scorer(handle, target, f"p(next = {word} | x)" if output == "probability" else
                  f"{output} of next = {word}", word, fn, fixed,
                  {tok.convert_ids_to_tokens(int(i)): float(p) for p, i in zip(top.values, top.indices)},
                  output == "probability")
