"""The Ray engine: the same shards and the same report as the local streamed engine."""

import json

import pandas as pd
import pytest

from attnviz.audit import AuditSettings
from attnviz.audit.dataset import SAMPLE_SETS
from attnviz.audit.stream import stream_audit

ray = pytest.importorskip("ray")

SETTINGS = AuditSettings(methods=("saliency",), faithfulness=False, batch_size=4)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting one takes ~20 s on 2 cores); ray_audit leaves it running."""
    import os
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": root, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}})
    yield
    ray.shutdown()


def test_ray_report_equals_the_local_engine(default_handle, tmp_path, local_ray):
    from attnviz.audit.ray_engine import ray_audit

    options = dict(slice_columns=["topic"], limit=8, chunk_rows=3, images=False)
    local = stream_audit(default_handle, SAMPLE_SETS["reviews"], tmp_path / "local", SETTINGS, **options)
    distributed = ray_audit(default_handle, SAMPLE_SETS["reviews"], tmp_path / "ray", SETTINGS, workers=2, **options)
    assert distributed.shards == local.shards == 3 and distributed.summary == local.summary
    a, b = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("local", "ray"))
    engine = b["provenance"].pop("engine")
    assert engine["name"] == "ray" and engine["workers"] == 2 and engine["ray"] == ray.__version__
    for doc in (a, b):
        for key in ("started_utc", "finished_utc", "seconds", "engine"):
            doc["provenance"].pop(key, None)
    assert a == b
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "local" / "results.csv"),
                                  pd.read_csv(tmp_path / "ray" / "results.csv"))
    resumed = ray_audit(default_handle, SAMPLE_SETS["reviews"], tmp_path / "ray", SETTINGS, workers=1, **options)
    assert resumed.resumed_shards == 3 and resumed.computed_rows == 0
