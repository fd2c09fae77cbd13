"""Small helpers shared by tests (fixtures live in conftest.py)."""

import numpy as np


def random_sentence(rng: np.random.Generator, words: int = 8) -> str:
    """Fresh input text: random vocabulary words, so tests never rely on one hand-picked sentence."""
    pool = ["river", "engineer", "quietly", "bright", "table", "seven", "music", "under", "paper", "storm",
            "walked", "green", "because", "city", "never", "open", "heavy", "dog", "sings", "winter", ",", "."]
    return " ".join(rng.choice(pool, size=words)).capitalize()


ARTIFACTS = __import__("pathlib").Path(__file__).resolve().parent / "artifacts"
"""Screenshots and other outputs a person may want to look at after a run (git-ignored)."""
