"""Generated cells, canonical form and invariants of the course's notebooks.

Who calls what:
- ``python3 course.py outputs`` calls :func:`refresh_generated_cells` and :func:`normalise`
  around executing each notebook.
- ``tests/test_repository.py`` calls :func:`problems` on every notebook; it returns
  every way a stored notebook breaks the course's rules (empty list = fine).

Generated cells are markdown cells identified by a tag: ``nav`` (top and bottom of
every chapter: previous · contents · next) and ``chapter-map`` (the map in chapter 00).
They are rewritten from ``tools/chapters.py``, never edited by hand.

Answer cells carry the tag ``answer``: the learner's copies (``helpers/workspace.py``) open
with their outputs cleared. ``normalise`` adds it by a rule (``helpers.workspace.answer_cells``:
the cells that answer a "Predict" or "Spot the bug" prompt, every exercise check, and the
answering cells listed in ``helpers.workspace.EXTRA_ANSWERS``); an author adds it by hand where
the rule misses, or ``not-answer`` where the rule picks the wrong cell.
"""

from __future__ import annotations

import copy
import re
import uuid
from pathlib import Path

import nbformat

from helpers.workspace import ANSWER_TAG, OWN_OUTPUT, is_prompt, tag_answers
from tools.chapters import CHAPTERS, NOTEBOOKS, Chapter, by_filename, written

NAV_TAG = "nav"
MAP_TAG = "chapter-map"
MAP_ANCHOR = "Map-of-the-course"  # JupyterLab's anchor for the heading "Map of the course"
RAISES = "# NBVAL_RAISES_EXCEPTION"
IGNORE = "# NBVAL_IGNORE_OUTPUT"
# JupyterLab's Run All stops at the first error unless the cell carries this tag (nbval
# honours it too): every cell marked to raise gets it, so Run All goes on past it.
RAISES_TAG = "raises-exception"
CHECKOUT = f"{NOTEBOOKS.parent}/"  # e.g. "/home/ann/switchyard/" in "…/helpers/trace.py"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# What JupyterLab writes into a notebook when its kernel starts (the kernel's spec and its
# kernel_info reply), except ``language_info.version``: JupyterLab compares the whole
# language_info with the kernel's, and a notebook stored without exactly these fields opens
# "modified" (● on its tab, a save prompt on closing it untouched). The version ("3.11.7")
# differs between Pythons, patch releases included, so it is not stored: the course's
# JupyterLab (``course.py lab``) fills in its own kernel's version as it opens a notebook
# (``helpers._lab``; Binder's postBuild sets it too). ``tests/browser/test_unmodified.py``
# proves a chapter opens unmodified.
CANONICAL_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
    },
}


# --------------------------------------------------------------------------- generated cells

def nav_source(chapter: Chapter) -> str:
    """The navigation line of ``chapter``: links only to chapters that have a notebook."""
    present = written()
    links = []
    if chapter in present:
        index = present.index(chapter)
        if index > 0:
            prev = present[index - 1]
            links.append(f"[← {prev.heading}]({prev.filename})")
    links.append(f"[Contents]({CHAPTERS[0].filename}#{MAP_ANCHOR})")
    if chapter in present and present.index(chapter) + 1 < len(present):
        nxt = present[present.index(chapter) + 1]
        links.append(f"[{nxt.heading} →]({nxt.filename})")
    return " · ".join(links)


def map_source() -> str:
    """The chapter map: every planned chapter, linked where its notebook exists."""
    rows = ["| # | chapter | you will leave with |", "|---|---------|---------------------|"]
    for chapter in CHAPTERS:
        title = f"[{chapter.title}]({chapter.filename})" if chapter.exists() else f"{chapter.title} *(coming)*"
        rows.append(f"| {chapter.number} | {title} | {chapter.summary} |")
    return "\n".join(rows)


def _tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def _markdown(source: str, tag: str, cell_id: str):
    cell = nbformat.v4.new_markdown_cell(source, id=cell_id)
    cell.metadata = {"tags": [tag]}
    return cell


def refresh_generated_cells(nb, chapter: Chapter) -> None:
    """Make the nav cells (first and last) and the chapter map match the chapter list."""
    nav = nav_source(chapter)
    cells = [cell for cell in nb.cells if not _tagged(cell, NAV_TAG)]
    nb.cells = [_markdown(nav, NAV_TAG, "nav-top"), *cells, _markdown(nav, NAV_TAG, "nav-bottom")]
    for cell in nb.cells:
        if _tagged(cell, MAP_TAG):
            cell.source = map_source()


# --------------------------------------------------------------------------- canonical form

def normalise(nb) -> None:
    """Put ``nb`` in the canonical form stored in git (idempotent).

    Notebook metadata is fixed (no Python patch version, no widget state: it changes on
    every run); cells keep only their tags; every cell has a stable id; displayed widgets
    keep their text form only, since their live view cannot be stored without state;
    a cell marked ``# NBVAL_RAISES_EXCEPTION`` carries the ``raises-exception`` tag;
    a cell that answers a prompt or checks an exercise carries the ``answer`` tag;
    tracebacks name the course's files relative to the checkout, wherever it lives;
    consecutive pieces of the same stream are joined (the kernel may send one printed
    line in two messages, depending on when its output thread flushes).
    """
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = copy.deepcopy(CANONICAL_METADATA)
    tag_answers(nb.cells)
    seen: set[str] = set()
    for cell in nb.cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "code" and first_line(cell) == RAISES and RAISES_TAG not in tags:
            tags.append(RAISES_TAG)
        cell.metadata = {"tags": tags} if tags else {}
        if not cell.get("id") or cell.id in seen:
            cell.id = uuid.uuid4().hex[:8]
        seen.add(cell.id)
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        merged: list = []
        for output in cell.outputs:
            if "data" in output:
                output.data.pop(WIDGET_VIEW, None)
            if output.output_type == "error":
                output.traceback = [line.replace(CHECKOUT, "") for line in output.traceback]
            previous = merged[-1] if merged else None
            if (output.output_type == "stream" and previous is not None
                    and previous.output_type == "stream" and previous.name == output.name):
                previous.text += output.text  # one print can arrive in two pieces
            else:
                merged.append(output)
        cell.outputs = merged


# --------------------------------------------------------------------------- invariants

def first_line(cell) -> str:
    return cell.source.lstrip().split("\n", 1)[0].strip()


def unexpected_errors(nb) -> list[str]:
    """Code cells that stored an error without being marked ``# NBVAL_RAISES_EXCEPTION``."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    return [f"code cell {number} stored an error ({output.ename}: {output.evalue}) but is not marked {RAISES}"
            for number, cell in enumerate(code, 1) if first_line(cell) != RAISES
            for output in cell.outputs if output.output_type == "error"]


def unanswered_prompts(nb) -> list[str]:
    """Prompts ("Predict", "Spot the bug") with no ``answer`` cell before the next one; untagged checks."""
    found = []
    prompts = [index for index, cell in enumerate(nb.cells) if is_prompt(cell)]
    for index, end in zip(prompts, [*prompts[1:], len(nb.cells)]):
        if not any(cell.cell_type == "code" and _tagged(cell, ANSWER_TAG) for cell in nb.cells[index + 1:end]):
            words = " ".join(nb.cells[index].source.split())[:60]
            found.append(f"cell {index} asks the learner to predict or spot a bug ({words!r}), "
                         f"and no code cell after it is tagged {ANSWER_TAG!r}: its answer shows in the learner's copy")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and OWN_OUTPUT.search(cell.source) and not _tagged(cell, ANSWER_TAG):
            found.append(f"cell {index} checks an exercise and is not tagged {ANSWER_TAG!r}")
    return found


def problems(path: Path) -> list[str]:
    """Every way the stored notebook at ``path`` breaks the course's rules."""
    found: list[str] = []
    nb = nbformat.read(path, as_version=4)
    try:
        chapter = by_filename(path.name)
    except KeyError as error:
        return [str(error)]

    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        found.append("kernelspec is not python3")
    canonical = copy.deepcopy(nb)
    normalise(canonical)
    if canonical != nb:
        found.append("not normalised (run `python3 course.py outputs`)")

    expected_nav = nav_source(chapter)
    if not (nb.cells and _tagged(nb.cells[0], NAV_TAG) and _tagged(nb.cells[-1], NAV_TAG)):
        found.append("navigation cells missing at top or bottom")
    for cell in nb.cells:
        if _tagged(cell, NAV_TAG) and cell.source != expected_nav:
            found.append("navigation cell does not match the chapter list")
        if _tagged(cell, MAP_TAG) and cell.source != map_source():
            found.append("chapter map does not match the chapter list")

    body = [cell for cell in nb.cells if not _tagged(cell, NAV_TAG)]
    if not body or body[0].cell_type != "markdown" or first_line(body[0]) != f"# {chapter.heading}":
        found.append(f"first cell after the navigation must be the heading '# {chapter.heading}'")

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    if counts != list(range(1, len(code) + 1)):
        found.append(f"execution counts are {counts}, not 1..{len(code)} in order (outputs not stored by a clean run)")
    found += unexpected_errors(nb)
    found += unanswered_prompts(nb)
    for number, cell in enumerate(code, 1):
        marker = first_line(cell)
        errors = [out for out in cell.outputs if out.output_type == "error"]
        if marker == RAISES and not errors:
            found.append(f"code cell {number} is marked {RAISES} but stored no error")
        if "NBVAL_SKIP" in cell.source:
            found.append(f"code cell {number} uses NBVAL_SKIP: a skipped cell is never validated")
        if marker == IGNORE and not re.search(r"^\s*assert\b", cell.source, re.M):
            found.append(f"code cell {number} ignores its output but asserts nothing about it")
    return found
