"""attnviz: see what attention models look at.

    >>> import attnviz
    >>> model = attnviz.load_model()              # bundled all-MiniLM-L6-v2, offline
    >>> result = model.attention("The cat sat on the mat.")
    >>> result.attentions.shape                    # [layers, heads, n, n]
    >>> model.attribute("A wonderful film.", method="integrated_gradients").scores
    >>> attnviz.compare_attention(model, "He is a nurse.", text_b="She is a nurse.")
    >>> attnviz.bias.counterfactual(model, axes=["religion"]).axes
    >>> attnviz.audit.run_audit(model, attnviz.audit.load_dataset("reviews"))

This module is the public API: everything a user needs is re-exported here; ``attnviz.bias``,
``attnviz.audit`` and ``attnviz.lab`` are the feature packages.
"""

from . import audit, bias, heads, lab
from .attention import AttentionResult
from .attribution import METHODS, Attribution, Method, MethodOutput, attribute, method_title, register
from .attribution.evaluate import Evaluation, evaluate
from .diff import AttentionDiff, AttributionDiff, compare_attention, compare_attributions
from .errors import AttnvizError, InputError, ModelLoadError, ResourceError
from .generation import GenerationResult, attribute_generated, generate
from .models.handle import ModelHandle, from_pretrained_model, load_model
from .models.loading import DEFAULT_MODEL_ID
from .models.targets import (
    ClassTarget,
    MaskedTokenTarget,
    NextTokenTarget,
    SimilarityTarget,
    ZeroShotTarget,
    build_target,
)
from .version import __version__

__all__ = [
    "DEFAULT_MODEL_ID", "METHODS", "AttentionDiff", "AttentionResult", "Attribution", "AttributionDiff",
    "AttnvizError", "ClassTarget", "Evaluation", "GenerationResult", "InputError", "MaskedTokenTarget", "Method",
    "MethodOutput", "ModelHandle", "ModelLoadError", "NextTokenTarget", "ResourceError", "SimilarityTarget",
    "ZeroShotTarget", "__version__", "attribute", "attribute_generated", "audit", "bias", "build_target",
    "compare_attention", "compare_attributions", "evaluate", "from_pretrained_model", "generate", "heads", "lab",
    "load_model", "method_title", "register",
]
