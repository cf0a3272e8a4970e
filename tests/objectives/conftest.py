import pytest


@pytest.fixture
def batch(make_transitions):
    """8 transitions with observation size 5 and action size 2 (the OBS, ACT of these tests)."""
    return make_transitions(8, 5, 2)
