"""Audits: many inputs at once, with aggregate views and a report someone else can check later.

    >>> from attnviz.audit import load_dataset, run_audit, AuditSettings, write_report
    >>> data = load_dataset("assets/samples/reviews.csv", label_column="label", slice_columns=["topic"])
    >>> result = run_audit(attnviz.load_model(), data, AuditSettings(methods=("integrated_gradients",)))
    >>> write_report(result, "audit-out")      # report.html, report.json, results.csv, figures/

Headless: ``python -m attnviz audit --data FILE --out DIR``.
"""

from .cache import default_cache_dir
from .dataset import SAMPLE_SETS, Dataset, load_dataset, read_table
from .dataset import prepare as prepare_dataset
from .report import write_report
from .results import AuditResult, AuditSettings, ExampleResult
from .run import run_audit

__all__ = ["SAMPLE_SETS", "AuditResult", "AuditSettings", "Dataset", "ExampleResult", "default_cache_dir",
           "load_dataset", "prepare_dataset", "read_table", "run_audit", "write_report"]
