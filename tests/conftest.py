"""Fixtures shared by the test modules of the compiled path (``chainrule.fast``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def fast_on():
    """The compiled kernels on for one test (its module skips without numba), then off."""
    from chainrule import fast

    assert fast.use_fast(True)
    yield
    fast.use_fast(False)


@pytest.fixture
def fast_reset(monkeypatch: pytest.MonkeyPatch):
    """The test leaves the switch as it found it: off, no kernels, no warning spent."""
    from chainrule import fast

    monkeypatch.setattr(fast, "_warned", False)
    yield
    fast.use_fast(False)
    fast._kernels.clear()
