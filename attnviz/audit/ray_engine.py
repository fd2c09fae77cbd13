"""The Ray engine of streamed audits (optional: ``pip install -r requirements-ray.txt``)."""

from __future__ import annotations

from ..errors import InputError


def ray_audit(handle, data, out_dir, settings=None, *, address=None, workers: int = 1, **options):
    """Like :func:`attnviz.audit.stream.stream_audit`, with the model work spread over Ray workers."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise InputError("The Ray engine needs Ray: pip install -r requirements-ray.txt") from exc
    raise InputError("The Ray engine is not available yet.")
