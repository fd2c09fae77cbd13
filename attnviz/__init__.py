"""attnviz: see what attention models look at.

    >>> import attnviz
    >>> model = attnviz.load_model()              # bundled all-MiniLM-L6-v2, offline
    >>> result = model.attention("The cat sat on the mat.")
    >>> result.attentions.shape                    # [layers, heads, n, n]
"""

from .attention import AttentionResult
from .errors import AttnvizError, InputError, ModelLoadError, ResourceError
from .models.handle import ModelHandle, from_pretrained_model, load_model
from .models.loading import DEFAULT_MODEL_ID
from .version import __version__

__all__ = [
    "AttentionResult", "AttnvizError", "DEFAULT_MODEL_ID", "InputError", "ModelHandle", "ModelLoadError",
    "ResourceError", "from_pretrained_model", "load_model", "__version__",
]
