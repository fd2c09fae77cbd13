"""Fixtures for the audit tests."""

import pytest

from tests.audit.synthetic import make_synthetic_result


@pytest.fixture
def synthetic_result():
    return make_synthetic_result()
