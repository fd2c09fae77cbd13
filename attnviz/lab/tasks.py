"""Toy tasks, generated on the fly (nothing is downloaded), each small enough to learn in seconds on a CPU.

Text tasks share one vocabulary (:data:`VOCAB`) and one format: the question, then one '?' per answer.
The model predicts a token at every '?' (``labels`` hold the answers there and -100 elsewhere):

    copy                3 1 4 1 5 | ? ? ? ? ?        → 3 1 4 1 5
    reverse             3 1 4 1 5 | ? ? ? ? ?        → 5 1 4 1 3
    sort                3 1 4 1 5 | ? ? ? ? ?        → 1 1 3 4 5
    associative_recall  c 7 a 2 f 9 | a ?            → 2   (attention as a memory read: find the key, read its value)
    induction           q d k a z m | k ?            → a   (find where the query appeared; copy what followed it)

The image task classifies scikit-learn's bundled 8×8 handwritten digits with a tiny vision transformer
that attends over image patches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InputError

SPECIALS = ["[PAD]", "[UNK]", "|", "?"]
DIGITS = [str(d) for d in range(10)]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
#: The shared text vocabulary: specials, digits 0–9, letters a–z.
VOCAB = SPECIALS + DIGITS + LETTERS
TOKEN_ID = {t: i for i, t in enumerate(VOCAB)}
PAD, SEP, QUERY = TOKEN_ID["[PAD]"], TOKEN_ID["|"], TOKEN_ID["?"]
DIGIT_IDS = torch.tensor([TOKEN_ID[d] for d in DIGITS])
LETTER_IDS = torch.tensor([TOKEN_ID[c] for c in LETTERS])


@dataclass(frozen=True)
class Batch:
    """A batch of examples: ``inputs`` [b, n] token ids (or [b, 8, 8] pixels), ``labels`` [b, n] answers
    at the '?' positions and -100 elsewhere (or [b] classes)."""

    inputs: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.inputs.shape[0]


@dataclass(frozen=True)
class Task:
    """A named task: ``sample(batch_size, generator)`` draws fresh examples."""

    name: str
    title: str
    description: str
    kind: str = "text"  # "text" or "image"
    params: dict = field(default_factory=dict)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def probe(self) -> Batch:
        """One fixed example (the same every time): attention snapshots during training are taken on it."""
        return self.sample(1, torch.Generator().manual_seed(12345))

    def answer_tokens(self, batch: Batch) -> list[list[str]]:
        """The correct answers of each example, as tokens (text) or the class as a string (images)."""
        if self.kind == "image":
            return [[str(int(c))] for c in batch.labels]
        return [[VOCAB[a] for a in row] for row in answers_of(batch)]

    @property
    def sequence_length(self) -> int:
        return self.probe().inputs.shape[-1]


# ---------------------------------------------------------------------------------------------- text
def _with_answers(question: torch.Tensor, answers: torch.Tensor) -> Batch:
    """question [b, q] + answers [b, a] → inputs 'question ? … ?' and labels (answers under the '?')."""
    b, a = answers.shape
    queries = torch.full((b, a), QUERY, dtype=torch.long)
    inputs = torch.cat([question, queries], dim=1)
    labels = torch.full_like(inputs, -100)
    labels[:, question.shape[1]:] = answers
    return Batch(inputs, labels)


def _separator(b: int) -> torch.Tensor:
    return torch.full((b, 1), SEP, dtype=torch.long)


@dataclass(frozen=True)
class SequenceTask(Task):
    """copy / reverse / sort a sequence of ``length`` digits."""

    def sample(self, batch_size, generator):
        length = self.params["length"]
        digits = DIGIT_IDS[torch.randint(0, 10, (batch_size, length), generator=generator)]
        if self.name == "copy":
            answers = digits
        elif self.name == "reverse":
            answers = digits.flip(1)
        else:  # sort: digit ids are in numeric order, so sorting ids sorts the digits
            answers = digits.sort(dim=1).values
        return _with_answers(torch.cat([digits, _separator(batch_size)], dim=1), answers)


@dataclass(frozen=True)
class AssociativeRecallTask(Task):
    """``pairs`` distinct letter keys, each followed by a digit value; then ``queries`` of the keys, each
    followed by a '?' for its value (several queries per example: Arora et al.'s multi-query recall)."""

    def sample(self, batch_size, generator):
        pairs, n_keys, n_queries = self.params["pairs"], self.params["keys"], self.params.get("queries", 1)
        order = torch.rand(batch_size, n_keys, generator=generator).argsort(dim=1)[:, :pairs]
        keys = LETTER_IDS[order]
        values = DIGIT_IDS[torch.randint(0, 10, (batch_size, pairs), generator=generator)]
        asked = torch.rand(batch_size, pairs, generator=generator).argsort(dim=1)[:, :n_queries]
        memory = torch.stack([keys, values], dim=2).reshape(batch_size, 2 * pairs)
        queries = torch.full((batch_size, 2 * n_queries), QUERY, dtype=torch.long)
        queries[:, 0::2] = keys.gather(1, asked)
        inputs = torch.cat([memory, _separator(batch_size), queries], dim=1)
        labels = torch.full_like(inputs, -100)
        labels[:, 2 * pairs + 2::2] = values.gather(1, asked)
        return Batch(inputs, labels)


@dataclass(frozen=True)
class InductionTask(Task):
    """``length`` distinct letters, then one of them again: the answer is the letter that followed it."""

    def sample(self, batch_size, generator):
        length = self.params["length"]
        letters = LETTER_IDS[torch.rand(batch_size, len(LETTERS), generator=generator).argsort(dim=1)[:, :length]]
        where = torch.randint(0, length - 1, (batch_size, 1), generator=generator)
        question = torch.cat([letters, _separator(batch_size), letters.gather(1, where)], dim=1)
        return _with_answers(question, letters.gather(1, where + 1))


# --------------------------------------------------------------------------------------------- image
@dataclass(frozen=True)
class DigitsTask(Task):
    """scikit-learn's 1,797 bundled 8×8 digits (pixels 0–16, scaled to 0–1); a fixed 300-image test split."""

    def data(self):
        return _digits()

    def sample(self, batch_size, generator):
        images, labels, train_idx, _ = self.data()
        pick = train_idx[torch.randint(0, len(train_idx), (batch_size,), generator=generator)]
        return Batch(images[pick], labels[pick])

    def held_out(self) -> Batch:
        images, labels, _, test_idx = self.data()
        return Batch(images[test_idx], labels[test_idx])

    def probe(self) -> Batch:
        images, labels, _, test_idx = self.data()
        return Batch(images[test_idx[:1]], labels[test_idx[:1]])


_DIGITS_CACHE: list = []


def _digits():
    """(images [1797, 8, 8] float, labels [1797], train indices, test indices), loaded once (read-only)."""
    if not _DIGITS_CACHE:
        from sklearn.datasets import load_digits  # scikit-learn (via shap) costs ~1 s to import: digits only

        data = load_digits()
        images = torch.tensor(data.images / 16.0, dtype=torch.float32)
        labels = torch.tensor(data.target, dtype=torch.long)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
        _DIGITS_CACHE.append((images, labels, order[300:], order[:300]))
    return _DIGITS_CACHE[0]


# ------------------------------------------------------------------------------------------ registry
TASKS: dict[str, Task] = {
    "copy": SequenceTask("copy", "Copy", "Repeat the digits after '|': one answer per '?'.", params={"length": 8}),
    "reverse": SequenceTask("reverse", "Reverse", "Write the digits backwards.", params={"length": 8}),
    "sort": SequenceTask("sort", "Sort", "Write the digits in increasing order.", params={"length": 8}),
    "associative_recall": AssociativeRecallTask(
        "associative_recall", "Associative recall",
        "Key–value pairs (letter, digit), then a key: answer its value. Attention as a memory read.",
        params={"pairs": 6, "keys": 16, "queries": 4}),
    "induction": InductionTask(
        "induction", "Induction", "Distinct letters, then one of them again: answer the letter that followed it "
        "(the 'induction head' pattern).", params={"length": 10}),
    "digits": DigitsTask("digits", "Digits (vision)", "Classify 8×8 handwritten digits from image patches.",
                         kind="image"),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise InputError(f"Unknown task '{name}': choose one of {', '.join(TASKS)}.")
    return TASKS[name]


def ids_to_text(ids) -> str:
    """Token ids → the text a person (or the tokenizer) reads: tokens joined by spaces."""
    return " ".join(VOCAB[int(i)] for i in ids if int(i) != PAD)


def text_to_ids(text: str) -> list[int]:
    """The inverse of :func:`ids_to_text` (unknown words become [UNK])."""
    return [TOKEN_ID.get(word, TOKEN_ID["[UNK]"]) for word in text.split()]


def answers_of(batch: Batch) -> list[list[int]]:
    """Per example, the answer token ids in order (labels that are not -100)."""
    return [[int(t) for t in row if int(t) != -100] for row in batch.labels]


def patch_grid(image_size: int, patch_size: int) -> np.ndarray:
    """[rows, cols] patch index of every patch, in the model's reading order (row by row)."""
    side = image_size // patch_size
    return np.arange(side * side).reshape(side, side)
