"""The method vocabulary: one record per attribution method, read by the library, the pages and the CLI.

Adding a method is one function (in the module of its family) and one :class:`Method` record in
:data:`METHODS`; nothing else lists method names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import InputError
from . import attention_based, gradients, perturbation, shap_method

FAMILIES = {
    "perturbation": "remove or replace tokens and watch f",
    "gradient": "derivatives of f with respect to the input embeddings",
    "attention": "read off the attention weights (optionally gradient-weighted)",
}


@dataclass(frozen=True)
class Method:
    """One attribution method.

    ``run(ctx, **settings)`` explains one prepared input (:class:`~attnviz.attribution.context.AttributionInput`)
    and returns a :class:`~attnviz.attribution.result.MethodOutput`; methods with ``batched`` take a
    :class:`~attnviz.attribution.batch.BatchInput` instead and return one output per row (a single text
    runs as a batch of one, so there is one implementation). ``defaults`` are its settings' defaults as
    shown to users; ``signed`` whether scores can be negative; ``default`` whether the Attribution page
    runs it unless told otherwise.
    """

    name: str
    title: str
    family: str
    function: Callable
    batched: bool = False
    signed: bool = True
    default: bool = False
    defaults: Mapping = field(default_factory=dict)

    def run(self, ctx, **settings):
        if self.batched:
            return self.function(ctx.batch(), **settings)[0]
        return self.function(ctx, **settings)


_METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add (or replace) a method; pages, the CLI and audits offer it from then on."""
    if method.family not in FAMILIES:
        raise ValueError(f"unknown family {method.family!r}: use one of {', '.join(FAMILIES)}")
    _METHODS[method.name] = method
    return method


#: name → Method, in the order pages list them (read-only: add methods with :func:`register`).
METHODS: Mapping[str, Method] = MappingProxyType(_METHODS)

for _method in (
    Method("shap", "SHAP (Partition)", "perturbation", shap_method.shap_values, default=True,
           defaults={"max_evals": 500, "mask": "delete"}),
    Method("integrated_gradients", "Integrated Gradients", "gradient", gradients.integrated_gradients,
           batched=True, default=True, defaults={"tol": 1e-2, "baseline": "pad"}),
    Method("input_x_gradient", "Input × gradient", "gradient", gradients.input_x_gradient, batched=True,
           default=True),
    Method("saliency", "Saliency", "gradient", gradients.saliency, batched=True, signed=False),
    Method("gradient_shap", "GradientSHAP", "gradient", gradients.gradient_shap,
           defaults={"n_samples": 25, "baselines": ("pad", "unk")}),
    Method("occlusion", "Occlusion", "perturbation", perturbation.occlusion, defaults={"baseline": "pad", "window": 1}),
    Method("lime", "LIME", "perturbation", perturbation.lime, default=True, defaults={"n_samples": 200}),
    Method("rollout", "Attention rollout", "attention", attention_based.rollout, signed=False, default=True),
    Method("grad_attention", "Grad × attention", "attention", attention_based.grad_attention, signed=False,
           default=True),
    Method("attention_flow", "Attention flow", "attention", attention_based.attention_flow, signed=False),
    Method("attention_norm", "Norm-based attention", "attention", attention_based.attention_norm, signed=False,
           defaults={"layer": "last", "head": "all"}),  # the strings are accepted as settings too
    Method("value_zeroing", "Value zeroing", "attention", attention_based.value_zeroing, signed=False,
           defaults={"layer": "all"}),
    Method("alti", "ALTI", "attention", attention_based.alti, signed=False),
):
    register(_method)


def check_method(name: str) -> Method:
    """The record of ``name``, or an InputError that lists the methods there are."""
    method = _METHODS.get(name)
    if method is None:
        raise InputError(f"Unknown method '{name}': use one of {', '.join(sorted(_METHODS))}.")
    return method


def method_title(name: str) -> str:
    """What a page calls a method (its name when it is not registered)."""
    method = _METHODS.get(name)
    return method.title if method else name


def default_methods() -> tuple[str, ...]:
    """The methods the Attribution page runs unless told otherwise."""
    return tuple(name for name, m in _METHODS.items() if m.default)


def batched_methods() -> tuple[str, ...]:
    """Methods that run over a whole padded batch in one pass (audits, bias probes)."""
    return tuple(name for name, m in _METHODS.items() if m.batched)
