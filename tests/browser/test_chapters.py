"""Every chapter, run the way learners run it: JupyterLab in Chromium, "Run All".

A chapter passes when Run All reaches the end, no cell shows an error except the ones
meant to raise, every widget it displays is rendered and every plot is shown. The
whole page of each run lands in ``artifacts/browser/`` (git-ignored) for humans to look
at: ``<chapter>.png``, or ``<chapter>-1.png``, ``-2.png``, ... for a long chapter.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.jupyterlab import run_all
from tools.chapters import written


@pytest.mark.timeout(400)
@pytest.mark.parametrize("chapter", written(), ids=lambda chapter: chapter.slug)
def test_chapter_runs_in_jupyterlab(chapter, lab, page):
    run = run_all(page, lab, chapter.filename, screenshot=SCREENSHOTS / f"{chapter.slug}.png")
    assert run.problems() == []
    assert run.screenshots and all(shot.stat().st_size > 0 for shot in run.screenshots)
    stored = chapter.path.read_text()
    # Plots that the stored chapter shows must show in JupyterLab too (not zero of zero).
    if '"image/png"' in stored:
        assert run.images_shown > 0
