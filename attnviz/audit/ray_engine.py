"""The Ray engine of streamed audits (optional: ``pip install -r requirements-ray.txt``).

The driver reads and prepares the chunks and keeps the shards, the resume logic and the aggregates of
:func:`~attnviz.audit.stream.stream_audit`; the model work goes to ``workers`` Ray actors, each loading the
model once and running whole chunks in padded batches of similar lengths. At most two chunks per worker
are in flight and results come back in shard order, so memory stays flat and the report is the same as
the local engine's.
"""

from __future__ import annotations

import os
from collections import deque
from importlib import metadata
from pathlib import Path

import torch

from ..errors import InputError
from ..models.handle import load_model
from ..models.targets import default_target
from .results import AuditSettings
from .run import BatchEngine
from .stream import run_chunk, stream_audit


class ChunkWorker:
    """One model per worker; ``run(frame)`` audits one prepared chunk (the Ray actor's class)."""

    def __init__(self, model, device, revision, offline, settings: AuditSettings, slice_columns, threads: int = 1):
        torch.set_num_threads(max(1, threads))
        self.handle = load_model(model, device=device, revision=revision, offline=offline)
        target = settings.target if settings.target is not None else default_target(self.handle)
        self.engine = BatchEngine(self.handle, target, settings, None)
        self.batch_size, self.slice_columns = settings.batch_size, tuple(slice_columns)

    def run(self, frame):
        return run_chunk(self.engine, frame, self.batch_size, self.slice_columns)


def ray_compute(actors, items, *, per_worker: int = 2):
    """(shard, results, stored?) in input order, chunks spread over ``actors``, ≤ ``per_worker`` each in flight."""
    import ray

    pending: deque = deque()  # in input order: (shard, ref or stored results, stored?)
    free = deque(actors)
    busy = {}

    def emit_ready():
        while pending:
            k, value, was_stored = pending[0]
            if was_stored:
                pending.popleft()
                yield k, value, True
                continue
            ready, _ = ray.wait([value], timeout=0)
            if not ready:
                return
            pending.popleft()
            free.append(busy.pop(value))
            yield k, ray.get(value), False

    limit = per_worker * len(actors)
    for k, frame, found, was_stored in items:
        if was_stored:
            pending.append((k, found, True))
        else:
            while len(busy) >= limit:
                ray.wait(list(busy), num_returns=1)
                yield from emit_ready()
                if len(busy) >= limit:  # the oldest is not ready yet: wait for it
                    oldest = next(v for _, v, s in pending if not s)
                    ray.wait([oldest])
                    yield from emit_ready()
            actor = free.popleft() if free else actors[k % len(actors)]
            ref = actor.run.remote(frame)
            busy[ref] = actor
            pending.append((k, ref, False))
        yield from emit_ready()
    while pending:
        k, value, was_stored = pending[0]
        if not was_stored:
            ray.wait([value])
        yield from emit_ready()


def ray_audit(handle, data, out_dir, settings: AuditSettings | None = None, *, address: str | None = None,
              workers: int = 1, model=None, device: str = "cpu", revision=None, offline: bool = True,
              threads_per_worker: int = 1, **options):
    """Like :func:`~attnviz.audit.stream.stream_audit`, the model work spread over ``workers`` Ray actors
    (a local Ray when ``address`` is None). Provenance records the engine, workers and Ray version."""
    try:
        import ray
    except ImportError as exc:
        raise InputError("The Ray engine needs Ray: pip install -r requirements-ray.txt") from exc
    if workers < 1:
        raise InputError("The Ray engine needs at least one worker.")
    settings = settings or AuditSettings()
    started_here = not ray.is_initialized()
    if started_here:
        # the workers import attnviz from where this process does (a checkout need not be installed)
        root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        init = {"address": address, "include_dashboard": False, "log_to_driver": True,
                "runtime_env": {"env_vars": {"PYTHONPATH": path, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "")
                                             or ("1" if offline else "0")}}}
        if address is None:
            init["num_cpus"] = workers * threads_per_worker
        ray.init(**init)
    try:
        remote = ray.remote(num_cpus=threads_per_worker)(ChunkWorker)
        actors = [remote.remote(model, device, revision, offline, settings, options.get("slice_columns", ()),
                                threads_per_worker) for _ in range(workers)]
        info = {"name": "ray", "workers": workers, "ray": metadata.version("ray"),
                "address": address or "local", "threads_per_worker": threads_per_worker}
        return stream_audit(handle, data, out_dir, settings, compute=lambda items: ray_compute(actors, items),
                            engine_info=info, **options)
    finally:
        if started_here:
            ray.shutdown()
