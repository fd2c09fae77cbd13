"""Provenance of an audit: which weights (a SHA-256 over every tensor), which library versions, which
device, seeds and settings — what report.json records so someone else can check the run."""

from __future__ import annotations

import hashlib
import platform
import threading
import weakref
from importlib import metadata

import torch

from ..version import __version__
from .results import AuditSettings

_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FINGERPRINT_LOCK = threading.Lock()


def model_fingerprint(handle) -> dict:
    """{name, revision, weights_sha256}: the SHA-256 of every parameter and buffer (name, dtype, shape,
    bytes) in name order — the same for the same weights wherever they were loaded from."""
    with _FINGERPRINT_LOCK:
        known = _FINGERPRINTS.get(handle.model)
        if known is None:
            digest = hashlib.sha256()
            for name, tensor in sorted(handle.model.state_dict().items()):
                t = tensor.detach().cpu().contiguous()
                digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
                digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
            known = digest.hexdigest()
            _FINGERPRINTS[handle.model] = known
    return {"name": handle.name, "revision": getattr(handle.config, "_commit_hash", None), "weights_sha256": known}


def library_versions() -> dict:
    versions = {"attnviz": __version__, "python": platform.python_version()}
    for package in ("torch", "transformers", "sentence-transformers", "shap", "captum", "numpy", "pandas", "scipy",
                    "plotly", "kaleido"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def provenance(handle, settings: AuditSettings, target) -> dict:
    return {
        "model": {**model_fingerprint(handle), **handle.describe()},
        "versions": library_versions(),
        "device": str(handle.device), "dtype": str(handle.dtype).replace("torch.", ""),
        "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
        "seeds": {"faithfulness_random_baseline": settings.seed, "gradient_shap": 0, "lime": 0, "shap": 0},
        "settings": settings.to_dict(target),
        "attention_readout": handle.readout,
    }
