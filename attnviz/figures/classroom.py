"""Classroom figures: the class's guesses for an exercise, as a bar chart (a pure function, no model).

Option labels are HTML-escaped (plotly renders a subset of HTML in tick labels and hover text).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

ANSWER_COLOUR = "#2ca02c"
OTHER_COLOUR = "#9aa5b1"
WRONG_COLOUR = "#1f77b4"


def guess_counts(options: Sequence[str], counts: Mapping[str, int], *, answer: str | None = None,
                 title: str = "", large: bool = False, only_chosen: bool = False) -> go.Figure:
    """How many students chose each option; the answer's bar is green (once revealed: ``answer`` given).

    Args:
        options: every option in input order (the bars' order); ``counts``: option → number of guesses
            (options missing from it count 0; keys that are not options are ignored).
        answer: the right option, highlighted and marked "answer" (None: not revealed yet).
        large: bigger type, for presenter mode on a projector.
        only_chosen: draw only the options somebody chose, and the answer.
    """
    shown = [o for o in options if not only_chosen or counts.get(o, 0) > 0 or o == answer]
    values = [int(counts.get(o, 0)) for o in shown]
    colours = [ANSWER_COLOUR if o == answer else (WRONG_COLOUR if answer is None else OTHER_COLOUR) for o in shown]
    labels = [html.escape(o) + (" ✓" if o == answer else "") for o in shown]
    total = sum(values)
    fig = go.Figure(go.Bar(
        x=labels, y=values, marker_color=colours, text=[str(v) if v else "" for v in values],
        textposition="outside", hovertemplate="%{x}: %{y} guess(es)<extra></extra>", cliponaxis=False))
    size = 22 if large else 13
    fig.update_layout(
        title=html.escape(title or f"{total} guess(es)"), height=460 if large else 320,
        margin={"l": 40, "r": 20, "t": 60, "b": 80}, font={"size": size}, showlegend=False,
        yaxis={"title": "guesses", "rangemode": "tozero", "dtick": 1 if max(values, default=0) <= 10 else None},
        xaxis={"tickangle": -30 if len(shown) > 8 else 0, "type": "category"})
    return fig
