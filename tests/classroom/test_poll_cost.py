"""A student's room poll is a Streamlit run every 0.5 s, so the app's config must keep a run cheap.

Streamlit's defaults add ~0.2 s of CPU to every run once torch is loaded: a full ``gc.collect()`` after each
run, and the source watcher walking every module in ``sys.modules``. Measured on the server with two students
polling: 8.7 CPU-s per 10 s with the defaults, 0.5 CPU-s without them (notes in attnviz/ui/room.py)."""

import tomllib

from tests.helpers import ROOT


def test_the_app_config_turns_off_the_per_run_gc_and_the_source_watcher():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    assert config["server"]["fileWatcherType"] == "none"
