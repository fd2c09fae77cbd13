"""The target form: which number f(x) a page explains, drawn from ``attnviz.models.targets``' vocabulary
(``target_kinds``, ``class_names``, ``build_target``) so the Attribution and Bias pages build targets alike.

A page passes its wording and layout as a :class:`TargetForm`; the widget keys are ``{prefix}_target_kind``,
``{prefix}_labels``, ``{prefix}_temperature``, ``{prefix}_reference``, ``{prefix}_class``, ``{prefix}_token``
(and ``{prefix}_label``), and :func:`target_params` gives them as link parameters with their defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st

from attnviz.models.targets import (
    DEFAULT_TEMPERATURE,
    SENTIMENT_LABELS,
    Target,
    build_target,
    class_names,
    labels_to_text,
    target_kinds,
)
from attnviz.sharing import StateParam

from .page import seed


@dataclass(frozen=True)
class TargetForm:
    """A page's wording and layout of the target widgets.

    Attributes:
        kinds: title of each choice between ``"zero-shot"`` and ``"similarity"`` (encoders only); the
            titles are the widget's options and the ``explain`` link values.
        kind_label, labels_label, reference_label, class_label, token_label: the widgets' labels.
        labels_help: help of the zero-shot labels box (None: none).
        reference_default: the similarity target's reference sentence to start from.
        predicted: the class option meaning "the predicted class"; ``predicted_first`` puts it first
            (and makes it the default), else last (the first class is the default).
        label_label: a text box naming the zero-shot label whose probability is f (None: not drawn: the
            predicted label); ``label_default`` its start value.
        every_field: draw every zero-shot field at once (the kind radio included) instead of the chosen
            kind's only.
    """

    kinds: Mapping[str, str]
    kind_label: str
    labels_label: str
    reference_label: str
    reference_default: str
    class_label: str
    predicted: str
    token_label: str
    labels_help: str | None = None
    predicted_first: bool = True
    label_label: str | None = None
    label_default: str = ""
    every_field: bool = False


@dataclass(frozen=True)
class TargetChoice:
    """What a target form holds: ``build()`` gives the Target (raises InputError on bad labels)."""

    kind: str
    labels: str = ""
    label: str | int | None = None
    temperature: float = DEFAULT_TEMPERATURE
    reference: str = ""
    token: str | None = None

    def build(self) -> Target:
        return build_target(self.kind, labels=self.labels, label=self.label, temperature=float(self.temperature),
                            reference=self.reference, token=self.token)


def _class_options(handle, form: TargetForm) -> tuple[list[str], list[str]]:
    names = class_names(handle) if "class" in target_kinds(handle) else []
    return names, ([form.predicted] + names if form.predicted_first else names + [form.predicted])


def target_params(handle, prefix: str, form: TargetForm) -> list[StateParam]:
    """The form's widgets as link parameters (``explain``, ``labels``, ``tau``, ``reference``, ``class``,
    ``token``, and ``label`` when drawn), each with its default.

    Raises:
        InputError: the model has no target (encoder-decoders).
    """
    _, options = _class_options(handle, form)
    titles = list(form.kinds.values())
    params = [
        StateParam.choice("explain", f"{prefix}_target_kind", titles, default=titles[0]),
        StateParam.text("labels", f"{prefix}_labels", default=labels_to_text(SENTIMENT_LABELS)),
        StateParam.number("tau", f"{prefix}_temperature", 0.005, 1.0, default=DEFAULT_TEMPERATURE),
        StateParam.text("reference", f"{prefix}_reference", default=form.reference_default),
        StateParam.choice("class", f"{prefix}_class", options, default=options[0]),
        StateParam.text("token", f"{prefix}_token", default=""),
    ]
    if form.label_label is not None:
        params.append(StateParam.text("label", f"{prefix}_label", default=form.label_default))
    return params


def target_form(handle, prefix: str, form: TargetForm) -> TargetChoice:
    """Draw the target widgets this model offers (inside the page's ``st.form``) and return the choice.

    Raises:
        InputError: the model has no target (encoder-decoders).
    """
    seed(target_params(handle, prefix, form))
    kinds = target_kinds(handle)
    names, options = _class_options(handle, form)
    by_title = {title: kind for kind, title in form.kinds.items()}
    kind, values = kinds[0], {}
    cols = None
    if len(kinds) > 1:  # zero-shot label or similarity to a sentence
        if form.every_field:
            cols = st.columns([3, 1])
        radio = cols[0].radio if cols else st.radio
        kind = by_title[radio(form.kind_label, list(form.kinds.values()), horizontal=True,
                              key=f"{prefix}_target_kind")]
    cols = cols or st.columns([3, 1])
    if kind == "zero-shot" or (form.every_field and "zero-shot" in kinds):
        values["labels"] = cols[0].text_area(form.labels_label, key=f"{prefix}_labels", height=90,
                                             help=form.labels_help)
        if form.label_label is not None:
            values["label"] = cols[1].text_input(form.label_label, key=f"{prefix}_label")
        values["temperature"] = cols[1].number_input("Temperature τ", 0.005, 1.0, step=0.005, format="%.3f",
                                                     key=f"{prefix}_temperature")
    if kind == "similarity" or (form.every_field and "similarity" in kinds):
        values["reference"] = cols[0].text_input(form.reference_label, key=f"{prefix}_reference")
    if kind == "class":
        chosen = cols[0].selectbox(form.class_label, options, key=f"{prefix}_class")
        values["label"] = names.index(chosen) if chosen in names else None
    elif kind in ("masked-token", "next-token"):
        values["token"] = cols[0].text_input(form.token_label, key=f"{prefix}_token")
    return TargetChoice(kind, **values)
