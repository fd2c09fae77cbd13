"""Audit reports: a standalone HTML file (plotly.js inline: opens offline, figures interactive),
report.json (provenance, settings, aggregates, per-example results), results.csv, and every figure as
PNG and SVG under figures/ (kaleido drives a local Chrome/Chromium; without one the report says so).
"""

from __future__ import annotations

import html
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import plotly.io as pio
from plotly.offline import get_plotlyjs

from ..errors import InputError
from ..figures import audit as afigs
from ..serialise import plain
from . import aggregate
from .results import AuditResult

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MAX_HTML_ROWS = 500


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote, and any notes (e.g. why static images are missing)."""

    out_dir: Path
    html: Path
    json: Path
    csv: Path
    images: tuple[Path, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------ tables
class ReportTables:
    """The aggregate tables a report shows, from an :class:`AuditResult` in memory (``ReportTables(result)``)
    or from merged :class:`~attnviz.audit.aggregate.Partial` aggregates of a streamed run
    (``ReportTables.streamed(...)``): the same tables either way."""

    def __init__(self, result: AuditResult | None = None):
        self.result = result
        if result is not None:
            self.provenance, self.settings, self.dataset = result.provenance, result.settings, result.dataset
            self.total, self.cancelled, self.bias = result.total, result.cancelled, result.bias
            self.methods, self.slice_columns = result.methods, result.slice_columns
            self.label_names = result.label_names
            self.partial = None
            self._table = None

    @classmethod
    def streamed(cls, partial: aggregate.Partial, *, provenance: dict, settings: dict, dataset: dict, total: int,
                 cancelled: bool, cache_hits: int, label_names, bias: dict, table_head: pd.DataFrame,
                 first_target: str) -> ReportTables:
        self = cls()
        self.provenance, self.settings, self.dataset, self.total = provenance, settings, dataset, total
        self.cancelled, self.cache_hits, self.bias, self.label_names = cancelled, cache_hits, bias, tuple(label_names)
        self.methods, self.slice_columns = tuple(settings.get("methods", ())), partial.slice_columns
        self.partial, self._table, self._first_target = partial, table_head, first_target
        return self

    def _whole_table(self) -> pd.DataFrame:
        if self._table is None:
            self._table = self.result.to_dataframe()
        return self._table

    def head_summary(self):
        return aggregate.head_summary(self.result) if self.partial is None else self.partial.head_summary()

    def top_tokens(self, method):
        return aggregate.top_tokens(self.result, method) if self.partial is None else self.partial.top_tokens(method)

    def accuracy(self):
        return aggregate.accuracy(self.result) if self.partial is None else self.partial.accuracy(self.label_names)

    def agreement(self):
        return aggregate.agreement(self.result) if self.partial is None else self.partial.agreement()

    def faithfulness(self):
        return aggregate.faithfulness(self.result) if self.partial is None else self.partial.faithfulness()

    def faithfulness_summary(self):
        if self.partial is not None:
            return self.partial.faithfulness_summary()
        return aggregate.faithfulness_summary_of(self.faithfulness())

    @property
    def binned(self) -> bool:
        """A streamed run past ``EXACT_ROWS`` examples: distributions come from bins, not per-example rows."""
        return self.partial is not None and self.partial.binned

    def slices(self, column):
        if self.partial is None:
            return aggregate.slices(self.result, column)
        return self.partial.slices(column, self.label_names)

    def summary(self) -> dict:
        if self.partial is None:
            return aggregate.summary(self.result)
        return self.partial.summary(self.label_names, total=self.total, cancelled=self.cancelled,
                                    cache_hits=self.cache_hits, bias=self.bias)

    def outputs(self) -> pd.DataFrame:
        return self._whole_table() if self.partial is None else self.partial.outputs_frame()

    def table_head(self, rows: int) -> tuple[pd.DataFrame, int]:
        """The first ``rows`` rows of results.csv and how many it has."""
        if self.partial is None:
            table = self._whole_table()
            return table.head(rows), len(table)
        return self._table.head(rows), self.partial.examples

    def first_target(self) -> str:
        if self.partial is None:
            return self.result.examples[0].target if self.result.ok else ""
        return self._first_target


def _tables(source) -> ReportTables:
    return source if isinstance(source, ReportTables) else ReportTables(source)


# ------------------------------------------------------------------ figures
def build_figures(result: AuditResult | ReportTables) -> dict:
    """{name: plotly Figure} of every aggregate view (the same in the page, the HTML and the images)."""
    t = _tables(result)
    heads = t.head_summary()
    figs = {
        "head_patterns": afigs.head_pattern_map(heads),
        "head_special": afigs.head_statistic_map(heads, "special", title="Mean attention to [CLS] + [SEP] per head"),
        "head_entropy": afigs.head_statistic_map(heads, "entropy_norm", title="Mean normalised entropy per head "
                                                 "(1 = broad)"),
        "outputs": afigs.binned_output_histogram(t.partial.output_histograms()) if t.binned
        else afigs.output_histogram(t.outputs()),
    }
    acc = t.accuracy()
    if acc["comparable"]:
        figs["confusion"] = afigs.confusion_heatmap(acc["confusion"])
    for method in t.methods:
        figs[f"top_tokens_{method}"] = afigs.top_tokens_bars(t.top_tokens(method), method=method)
    if t.binned:
        _binned_figures(t.partial, figs, t.methods)
    else:
        if len(t.methods) > 1:
            figs["agreement"] = afigs.agreement_box(t.agreement())
        faith = t.faithfulness()
        if not faith.empty:
            figs["faithfulness"] = afigs.faithfulness_box(faith)
    if t.bias:
        figs["bias"] = afigs.bias_gaps(pd.DataFrame(t.bias.get("axes", [])))
    for column in t.slice_columns:
        figs[slice_figure_name(column)] = afigs.slice_bars(t.slices(column), column)
    return figs


def _binned_figures(partial, figs: dict, methods) -> None:
    """The agreement and faithfulness boxes of a binned run (quartiles and whiskers to a bin width)."""
    agreement = partial.boxes("agreement")
    if len(methods) > 1 and not agreement.empty:
        figs["agreement"] = afigs.binned_boxes(agreement, ["spearman"], yrange=[-1.05, 1.05],
                                               title="Explainer agreement over examples (spearman on |φ|)")
    faith = partial.boxes("faithfulness")
    if not faith.empty:
        names = [m for m in dict.fromkeys(faith["name"]) if m != "random"] + \
            (["random"] if "random" in set(faith["name"]) else [])
        figs["faithfulness"] = afigs.binned_boxes(
            faith, ["comprehensiveness", "sufficiency"], order=names, grey="random",
            title="Faithfulness over examples (grey: random ranking)",
            titles=["Comprehensiveness AOPC (higher is better)", "Sufficiency AOPC (lower is better)"])


def slice_figure_name(column: str) -> str:
    """The key (and file name) of a slice column's figure: ``slice_<column, alphanumerics only>``."""
    return "slice_" + ("".join(c if c.isalnum() else "_" for c in str(column))[:40] or "column")


# ------------------------------------------------------------------ JSON
def report_record(result: AuditResult | ReportTables, examples=None) -> dict:
    """Everything report.json holds: provenance, settings, dataset, headline numbers, aggregates and
    the per-example summaries (texts, predictions, word scores; head statistics are aggregated).
    ``examples=False`` leaves the per-example list out (a streamed run writes it shard by shard)."""
    t = _tables(result)
    acc = t.accuracy()
    record = {
        "format": "attnviz.AuditReport", "version": 1,
        "provenance": t.provenance, "settings": t.settings, "dataset": t.dataset,
        "summary": t.summary(),
        "accuracy": {k: v for k, v in acc.items() if k != "confusion"},
        "confusion": acc["confusion"].to_dict() if not acc["confusion"].empty else {},
        "head_summary": t.head_summary().to_dict("records"),
        "top_tokens": {m: t.top_tokens(m).to_dict("records") for m in t.methods},
        "faithfulness_summary": t.faithfulness_summary().to_dict("records"),
        "slices": {c: t.slices(c).to_dict("records") for c in t.slice_columns},
        "bias_probe": t.bias,
    }
    if examples is not False:
        record["examples"] = [example_record(ex, t.methods) for ex in t.result.examples]
    return plain(record)


def example_record(ex, methods) -> dict:
    """One example as report.json lists it."""
    doc = {"index": ex.index, "text": ex.text, "text_pair": ex.text_pair, "gold": ex.gold, "status": ex.status,
           "error": ex.error, "predicted": ex.predicted, "target": ex.target, "output": ex.output,
           "probabilities": ex.probabilities, "slices": ex.slices, "truncated": ex.truncated,
           "tokens": list(ex.tokens)}
    if ex.status == "ok":
        doc["token_scores"] = {m: np.asarray(ex.scores[m]).round(6).tolist() for m in methods if m in ex.scores}
        doc["word_scores"] = {m: ex.word_scores(m) for m in methods if m in ex.scores}
        doc["deltas"] = ex.deltas
        doc["rollout"] = None if ex.rollout is None else np.asarray(ex.rollout).round(6).tolist()
        doc["agreement"] = ex.agreement
        doc["faithfulness"] = ex.faithfulness
    return doc


# ------------------------------------------------------------------ HTML
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1rem 2rem;
color:#222}h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f5f5f5}.note{background:#fff8e1;border-left:4px solid #f0b400;
padding:.5rem 1rem;margin:.5rem 0}.muted{color:#666;font-size:.9rem}.scroll{max-height:480px;overflow:auto}
"""


def _table(df: pd.DataFrame, *, digits: int = 4) -> str:
    if df is None or df.empty:
        return "<p class='muted'>(none)</p>"
    return df.round(digits).to_html(index=False, escape=True, na_rep="", border=0)


def render_html(result: AuditResult | ReportTables, figs: dict, *, notes=()) -> str:
    """The standalone report page: plotly.js is inlined once, every figure is a live plotly div."""
    esc = html.escape
    result = _tables(result)
    summary = result.summary()
    acc = result.accuracy()
    model = result.provenance.get("model", {})
    versions = result.provenance.get("versions", {})
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>attnviz audit — "
             f"{esc(str(model.get('name', '')))}</title><style>{_CSS}</style>",
             f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
             "<h1>attnviz audit</h1>",
             f"<p class='muted'>{esc(str(model.get('name', '')))} · {esc(str(result.dataset.get('source', '')))} · "
             f"{esc(str(result.provenance.get('finished_utc', '')))} UTC</p>"]
    headline = {
        "examples audited": f"{summary['ok']} of {result.total}" + (" (cancelled before the end)" if result.cancelled
                                                                   else ""),
        "errors": summary["errors"], "from cache": summary["cache_hits"],
        "explained": result.first_target(),
        "predicted labels": ", ".join(f"{k}: {v}" for k, v in summary["predicted"].items()),
        "accuracy": "n/a" if acc["accuracy"] is None else f"{acc['accuracy']:.1%} ({acc['correct']} of "
                                                          f"{acc['comparable']} labelled examples)",
        "methods": ", ".join(result.methods) or "(none)",
        "model weights sha256": model.get("weights_sha256", ""),
    }
    parts.append("<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in headline.items())
                 + "</table>")
    for note in [*result.dataset.get("notes", []), acc["note"], *notes]:
        if note:
            parts.append(f"<p class='note'>{esc(note)}</p>")
    sections = [("Predictions", ["outputs", "confusion"]),
                ("Head statistics over the dataset", ["head_patterns", "head_special", "head_entropy"]),
                ("Most attributed words", [k for k in figs if k.startswith("top_tokens_")]),
                ("Explainer agreement and faithfulness", ["agreement", "faithfulness"]),
                ("Slices", [k for k in figs if k.startswith("slice_")]),
                ("Bias probe (counterfactual identity swaps)", ["bias"])]
    for title, names in sections:
        present = [n for n in names if n in figs]
        if not present:
            continue
        parts.append(f"<h2>{esc(title)}</h2>")
        for name in present:
            parts.append(pio.to_html(figs[name], include_plotlyjs=False, full_html=False, div_id=f"fig-{name}",
                                     config={"displaylogo": False}))
        if title.startswith("Explainer"):
            parts.append(_table(result.faithfulness_summary()))
        if title.startswith("Bias"):
            parts.append(f"<p class='muted'>{esc(str(result.bias.get('sentences')))} template sentences, target "
                         f"{esc(str(result.bias.get('target')))}; terms and templates in assets/bias/.</p>")
            parts.append(_table(pd.DataFrame(result.bias.get("axes", []))))
        if title == "Slices":
            for column in result.slice_columns:
                parts.append(f"<h3>{esc(column)}</h3>" + _table(result.slices(column)))
    heads = result.head_summary()
    if not heads.empty:
        parts.append("<h2>Heads by pattern</h2><p class='muted'>Clark et al. (2019) statistics averaged over the "
                     "examples; consistency = share of examples in which the head shows the same pattern.</p>")
        parts.append("<div class='scroll'>" + _table(heads.sort_values(["pattern", "consistency"],
                                                                        ascending=[True, False]), digits=3) + "</div>")
    table, rows = result.table_head(MAX_HTML_ROWS)
    parts.append(f"<h2>Examples</h2><p class='muted'>{min(rows, MAX_HTML_ROWS)} of {rows} rows; every "
                 "row is in results.csv.</p>")
    parts.append("<div class='scroll'>" + _table(table, digits=3) + "</div>")
    prov = json.dumps(plain({"provenance": result.provenance, "dataset": result.dataset}), indent=1, default=str)
    parts.append(f"<h2>Provenance</h2><p class='muted'>attnviz {esc(str(versions.get('attnviz')))}, torch "
                 f"{esc(str(versions.get('torch')))}, transformers {esc(str(versions.get('transformers')))}, captum "
                 f"{esc(str(versions.get('captum')))}, shap {esc(str(versions.get('shap')))}; full record in "
                 f"report.json.</p><details><summary>Show</summary><pre>{esc(prov)}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------ static images
def find_browser() -> str | None:
    """The Chrome/Chromium kaleido will drive: ``$BROWSER_PATH`` if set, else the first on PATH."""
    explicit = os.environ.get("BROWSER_PATH")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def write_images(figs: dict, directory: Path, *, formats=("png", "svg"), timeout: float = 120) -> tuple[list, str]:
    """Every figure as PNG and SVG (kaleido + a local Chromium, no network: mathjax off, plotly.js from the
    installed plotly package). Returns (paths written, a note saying why none were, or "")."""
    try:  # optional: kaleido drives a local Chrome; without it the report says so
        import kaleido
    except ImportError:
        return [], "Static PNG/SVG figures were not written: install kaleido (pip install kaleido)."
    browser = find_browser()
    if browser is None:
        return [], ("Static PNG/SVG figures were not written: no Chrome/Chromium was found (install chromium, or "
                    "set BROWSER_PATH to a Chrome executable). The HTML report has every figure.")
    directory.mkdir(parents=True, exist_ok=True)
    plotlyjs = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    jobs, paths = [], []
    for name, fig in figs.items():
        height = fig.layout.height or 450
        for fmt in formats:
            path = directory / f"{name}.{fmt}"
            jobs.append({"fig": fig.to_dict(), "path": str(path),
                         "opts": {"format": fmt, "width": 1000, "height": int(height), "scale": 2 if fmt == "png" else 1}})
            paths.append(path)
    try:
        kopts = {"mathjax": False, "timeout": timeout, "path": browser}  # no CDN: no mathjax, local plotly.js
        if plotlyjs.is_file():
            kopts["plotlyjs"] = str(plotlyjs)
        kaleido.write_fig_from_object_sync(jobs, kopts=kopts)
    except Exception as exc:  # kaleido/choreographer raise many types (browser crash, timeout)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return [p for p in paths if p.exists()], f"Static PNG/SVG figures could not be written ({first})."
    missing = [p for p in paths if not p.exists()]
    note = f"{len(missing)} static figure file(s) could not be written." if missing else ""
    return [p for p in paths if p.exists()], note


# ------------------------------------------------------------------ all files
def write_report(result: AuditResult, out_dir: str | Path, *, images: bool = True) -> ReportFiles:
    """Write report.html, report.json, results.csv and (``images``) figures/*.png|svg into ``out_dir``.

    Raises:
        InputError: ``out_dir`` cannot be created or written.
    """
    out = Path(out_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create the output directory '{out}': {exc.strerror or exc}.") from exc
    figs = build_figures(result)
    notes = []
    image_paths: list = []
    if images:
        image_paths, note = write_images(figs, out / "figures")
        if note:
            notes.append(note)
    record = report_record(result)
    record["files"] = {"figures": [str(p.relative_to(out)) for p in image_paths], "notes": notes}
    try:
        (out / "report.json").write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
        result.to_dataframe().to_csv(out / "results.csv", index=False)
        (out / "report.html").write_text(render_html(result, figs, notes=notes), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot write the report into '{out}': {exc.strerror or exc}.") from exc
    return ReportFiles(out, out / "report.html", out / "report.json", out / "results.csv", tuple(image_paths),
                       tuple(notes))


def report_bytes(result: AuditResult) -> dict[str, bytes]:
    """The three report files in memory (for download buttons): report.html, report.json, results.csv."""
    figs = build_figures(result)
    return {"report.html": render_html(result, figs).encode("utf-8"),
            "report.json": json.dumps(report_record(result), indent=1, ensure_ascii=False).encode("utf-8"),
            "results.csv": result.to_dataframe().to_csv(index=False).encode("utf-8")}
