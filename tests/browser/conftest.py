"""Fixtures of the browser tests: one JupyterLab and one Chromium for the whole session.

The lab serves a throwaway folder holding a copy of ``notebooks/`` (so running the
chapters never touches the committed ones) and a ``throwaway/`` folder in which tests
write notebooks that are broken on purpose.
"""

from __future__ import annotations

import shutil

import pytest

from tests.browser.jupyterlab import Lab, open_browser
from tools.chapters import NOTEBOOKS

SCREENSHOTS = NOTEBOOKS.parent / "artifacts" / "browser"


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(NOTEBOOKS, root, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / "throwaway").mkdir()
    with Lab(root, tmp_path_factory.mktemp("lab-state")) as server:
        yield server


@pytest.fixture(scope="session")
def browser(lab):
    with open_browser() as chromium:
        # Chromium starts its network and storage services on the first page load: do it
        # here, so that the per-test leak check sees them as the session's (the harness
        # checks that they are gone at its end).
        context = chromium.new_context()
        context.new_page().goto(lab.url("/api/status"))
        context.close()
        yield chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
