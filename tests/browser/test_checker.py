"""The browser check must fail where a learner would see something wrong.

Throwaway notebooks, broken on purpose, are run through the same Run All and the same
checks as the chapters: an error in a cell not meant to raise, and a widget whose
model does not exist, must both be reported. A good notebook with a widget, a plot
and a cell meant to raise must pass, and the check must wait for the cells after it.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.browser.jupyterlab import run_all
from tools.notebooks import normalise

GOOD = [
    "import ipywidgets\nipywidgets.IntSlider(value=3, description='slider')",
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\nax.plot([1, 3, 2])\nplt.show()",
    "# NBVAL_RAISES_EXCEPTION\nraise ValueError('meant to raise')",
    "import time\ntime.sleep(0.5)",  # so the next cell is still queued when the error arrives
    # Once a cell meant to raise has raised, JupyterLab settles Run All and clears the [*]
    # of the queued cells, while the kernel goes on running them; between two of them it is
    # idle for a moment. This cell stretches such a moment to 1.5 s (it announces "idle",
    # then works on), so a check that took "settled and idle" for "finished" fails here.
    "get_ipython().kernel._publish_status('idle', 'shell')\n"
    "time.sleep(1.5)\nprint('after the cell meant to raise')",
]
ERROR = ["print('first')", "1 / 0", "print('never reached')"]
MISSING_WIDGET = [
    "from IPython.display import display\n"
    "display({'application/vnd.jupyter.widget-view+json': "
    "{'model_id': 'no-such-model', 'version_major': 2, 'version_minor': 0}, "
    "'text/plain': 'a widget'}, raw=True)",
]


def write(lab, name: str, sources: list[str]) -> str:
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    normalise(nb)  # as the course stores notebooks: tags the cell meant to raise
    nbformat.write(nb, lab.root_dir / "throwaway" / name)
    return f"throwaway/{name}"


@pytest.mark.timeout(300)
def test_a_good_notebook_passes_and_run_all_goes_past_a_cell_meant_to_raise(lab, page):
    run = run_all(page, lab, write(lab, "good.ipynb", GOOD))
    assert run.problems() == []
    assert (run.widgets_rendered, run.images_shown) == (1, 1)
    last = [cell for cell in run.notebook.cells if cell.cell_type == "code"][-1]
    assert last.outputs[0]["text"] == "after the cell meant to raise\n"


@pytest.mark.timeout(300)
def test_an_error_cell_fails_the_check(lab, page):
    found = run_all(page, lab, write(lab, "error.ipynb", ERROR)).problems()
    assert any("ZeroDivisionError" in problem for problem in found), found
    assert any("never ran" in problem for problem in found), found


@pytest.mark.timeout(300)
def test_a_widget_that_does_not_render_fails_the_check(lab, page):
    found = run_all(page, lab, write(lab, "widget.ipynb", MISSING_WIDGET)).problems()
    assert any("1 widgets displayed" in problem and "0 rendered" in problem for problem in found), found
