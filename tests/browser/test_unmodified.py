"""An untouched chapter opens unmodified: no ● on its tab, no "save changes?" on closing it.

JupyterLab writes its kernel's ``language_info`` and ``kernelspec`` into a notebook's
metadata when the kernel starts, and marks the notebook modified unless that is exactly
what was stored. The chapters store every field but the Python version, which the
course's JupyterLab adds as it opens them (``helpers._lab``, ``tools.notebooks.CANONICAL_METADATA``).
The control proves the check sees the ●: a notebook with the metadata the chapters used
to store opens modified.
"""

from __future__ import annotations

import copy

import nbformat
import pytest

from tests.browser.jupyterlab import CURRENT, OPENED
from tools.chapters import written

# Once the kernel has answered kernel_info, JupyterLab has written its metadata; read the state then.
STATE = f"""async () => {{
    const panel = {CURRENT};
    await panel.sessionContext.ready;
    await panel.sessionContext.session.kernel.info;
    await new Promise(resolve => setTimeout(resolve, 1000));
    return {{dirty: panel.model.dirty, tab: panel.title.className,
             metadata: panel.model.toJSON().metadata}};
}}"""


def opened(page, lab, name: str) -> dict:
    page.goto(lab.url(f"/lab/tree/{name}", query="reset&"))
    page.wait_for_function(OPENED, arg=name, timeout=90_000)
    try:
        return page.evaluate(STATE)
    finally:
        lab.shut_down_kernels()


@pytest.mark.timeout(150)
@pytest.mark.parametrize("chapter", written(), ids=lambda chapter: chapter.slug)
def test_an_untouched_chapter_opens_unmodified(chapter, lab, page):
    state = opened(page, lab, chapter.filename)
    stored = nbformat.read(chapter.path, as_version=4).metadata
    assert not state["dirty"] and "jp-mod-dirty" not in state["tab"], state
    # What JupyterLab holds is what is stored, plus the kernel's version.
    info = dict(state["metadata"]["language_info"])
    assert info.pop("version").startswith("3.")
    assert info == stored.language_info and state["metadata"]["kernelspec"] == stored.kernelspec


@pytest.mark.timeout(120)
def test_the_check_sees_a_notebook_that_opens_modified(lab, page):
    chapter = written()[0]
    nb = nbformat.read(chapter.path, as_version=4)
    old = copy.deepcopy(nb)
    old.metadata.language_info = {"name": "python", "pygments_lexer": "ipython3"}  # before issue 16
    nbformat.write(old, lab.root_dir / "throwaway" / "old_metadata.ipynb")
    state = opened(page, lab, "throwaway/old_metadata.ipynb")
    assert state["dirty"] and "jp-mod-dirty" in state["tab"], state
