"""The Attention Lab: a small readable attention model, toy tasks, training, and a step-through of one head.

    >>> from attnviz.lab.train import train_task
    >>> result, trainer = train_task("associative_recall", max_seconds=60)
    >>> result["accuracy"]                    # held-out accuracy, e.g. 0.99

Headless: ``python -m attnviz.lab --task associative_recall --max-seconds 60``.
"""

from .model import (
           MASKS,
           SCORES,
           LabConfig,
           LabForImageClassification,
           LabForMaskedLM,
           build_model,
           build_tokenizer,
)

__all__ = ["MASKS", "SCORES", "LabConfig", "LabForImageClassification", "LabForMaskedLM", "build_model",
           "build_tokenizer"]
