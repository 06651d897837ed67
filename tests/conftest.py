"""Shared fixtures: every unit test must leave no thread, socket or child process behind."""

from __future__ import annotations

import pytest

from tools import leaks


@pytest.fixture(autouse=True)
def no_leaks():
    """Fail a test that leaves a thread, an inet socket or a child process running."""
    before = leaks.snapshot()
    yield
    extra = leaks.leftovers(before, grace=3.0)
    assert not extra, f"the test left behind {extra.describe()}"
