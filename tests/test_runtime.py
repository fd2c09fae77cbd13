import sys

import numpy as np

from attnviz.runtime import keep_freed_memory


def test_allocator_tuning_is_idempotent_and_harmless():
    first, second = keep_freed_memory(), keep_freed_memory()
    assert first == second
    if sys.platform.startswith("linux"):
        assert first  # glibc
    big = np.ones((6, 12, 256, 256), dtype=np.float32)  # allocation still works after tuning
    assert float(big.sum()) == big.size
