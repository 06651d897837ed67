"""Shared fixtures: every unit test must leave no thread, socket or child process behind."""

from __future__ import annotations

import dataclasses

import pytest

from tools import leaks


@pytest.fixture(autouse=True)
def no_leaks(request):
    """Fail a test that leaves a thread, an inet socket or a child process running.

    The browser tests share one Chromium for the whole session, and Chromium starts helper
    processes of its own when it likes (e.g. an "OnDeviceModelService" seconds after a page
    closed): those are the session's, not the test's, and the session's own leak check at its
    end (tools/pytest_harness.py) makes sure they are gone.

    A library's one thread per process (pycares', when aiodns is installed) is not counted either:
    ``tools.leaks`` leaves out what ``helpers.leftovers.is_process_wide`` names, the same
    definition the chapters' closing check uses.
    """
    before = leaks.snapshot()
    yield
    extra = leaks.leftovers(before, grace=3.0)
    if "browser" in request.fixturenames:
        extra = dataclasses.replace(
            extra, children=frozenset(c for c in extra.children if "chrom" not in c.lower()))
    assert not extra, f"the test left behind {extra.describe()}"
