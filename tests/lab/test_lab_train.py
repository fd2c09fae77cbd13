"""The training loop: learning happens, chunks add up, stop works, snapshots stay bounded."""

import numpy as np
import pytest

from attnviz.errors import InputError
from attnviz.lab.train import Trainer, TrainSettings, model_config, train_task


def test_a_short_run_improves_held_out_accuracy():
    trainer = Trainer("copy", settings={"stop_accuracy": None})
    before = trainer.evaluate(trainer.test)["accuracy"]
    trainer.run(max_steps=60)
    after = trainer.evaluate(trainer.test)["accuracy"]
    assert before < 0.3 and after > before + 0.3
    assert trainer.history[0]["loss"] > trainer.history[-1]["loss"]


def test_chunks_add_up_and_stop_accuracy_finishes_training():
    trainer = Trainer("reverse")
    for _ in range(100):
        trainer.run(max_steps=7)
        if trainer.finished:
            break
    assert trainer.stop_reason == "reached"
    assert trainer.history[-1]["accuracy"] >= trainer.settings.stop_accuracy
    assert trainer.final_evaluation()["accuracy"] > 0.95
    steps = [h["step"] for h in trainer.history]
    assert steps == sorted(steps) and steps[-1] == trainer.step


def test_should_stop_and_max_steps():
    trainer = Trainer("copy", settings={"stop_accuracy": None, "max_steps": 15})
    trainer.run(should_stop=lambda: trainer.step >= 4)
    assert trainer.step == 4 and trainer.stop_reason == "stopped"
    trainer = Trainer("copy", settings={"stop_accuracy": None, "max_steps": 15})
    trainer.run()
    assert trainer.step == 15 and trainer.stop_reason == "max_steps"


def test_snapshots_are_thinned_and_keep_first_and_last():
    trainer = Trainer("copy", settings={"stop_accuracy": None, "max_steps": 80, "snapshot_every": 1,
                                        "max_snapshots": 10})
    trainer.run()
    steps = [s.step for s in trainer.snapshots]
    assert len(steps) <= 10 and steps[0] == 0 and steps[-1] == 80 and steps == sorted(steps)
    snap = trainer.snapshots[-1]
    n = len(trainer.probe_tokens())
    assert snap.attentions.shape == (1, 4, n, n)
    np.testing.assert_allclose(snap.attentions.sum(-1), 1, atol=1e-5)


def test_answer_a_typed_task_and_continue_from_a_loaded_model():
    trainer = Trainer("copy")
    trainer.run(max_steps=300)
    out = trainer.answer("3 1 4 1 5 9 2 6 | ? ? ? ? ? ? ? ?")
    assert out["answers"] == list("31415926")
    assert out["attentions"].shape == (1, 4, 17, 17)
    resumed = Trainer.from_model(trainer.frozen_copy())
    assert resumed.snapshots[0].accuracy > 0.95
    with pytest.raises(InputError):
        trainer.answer("   ")


def test_digits_vision_transformer_trains():
    trainer = Trainer("digits", settings={"max_steps": 40, "batch_size": 32})
    trainer.run()
    assert trainer.evaluate(trainer.test)["accuracy"] > 0.2  # 10 classes: chance is 0.1
    assert trainer.snapshots[-1].attentions.shape == (2, 4, 17, 17)  # [CLS] + 16 patches of 2×2


@pytest.mark.parametrize("bad,message", [
    ({"batch_size": 0}, "batch_size"), ({"learning_rate": 5.0}, "learning rate"),
    ({"stop_accuracy": 1.5}, "stop accuracy"),
])
def test_bad_training_settings(bad, message):
    with pytest.raises(InputError, match=message):
        TrainSettings(**bad)


def test_bad_model_settings_and_mismatched_models():
    with pytest.raises(InputError):
        Trainer("copy", {"score": "nope"})
    with pytest.raises(InputError, match="positions"):
        Trainer("copy", model_config("copy", max_position_embeddings=32).__class__(
            vocab=model_config("copy").vocab, max_position_embeddings=8))
    with pytest.raises(InputError, match="cannot learn"):
        Trainer("digits", model_config("copy"))


def test_train_task_reports_held_out_accuracy():
    result, trainer = train_task("copy", max_seconds=20)
    assert result["accuracy"] >= 0.95 and result["stop_reason"] == "reached"
    assert result["seconds"] > 0 and result["steps"] == trainer.step
