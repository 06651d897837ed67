"""``python3 course.py outputs``, ``normalise`` and ``lock`` (run inside .venv).

outputs [NOTEBOOK ...]
    For every chapter notebook (or the ones named): rewrite the generated cells, run
    it top to bottom in a fresh kernel of this environment (the same kernel nbval
    uses), normalise it and write it back with its outputs. Refuses to write a
    notebook in which a cell not marked ``# NBVAL_RAISES_EXCEPTION`` raised.
    Pictures: a plot of measured times differs on every run, so when a cell's code
    and its text outputs are unchanged, the stored picture is kept; pass --redraw to
    store the new ones; likewise the outputs of an unchanged cell marked
    ``# NBVAL_IGNORE_OUTPUT`` (random by nature). Run it twice: the second run leaves
    ``git diff`` empty.

normalise [NOTEBOOK ...]
    Put every chapter notebook (or the ones named) in the canonical form stored in git
    (notebook metadata, cell ids and tags...) without running it: after a change of
    ``tools.notebooks.CANONICAL_METADATA``, say.

lock
    Re-pin: compile requirements.in into requirements.txt (every package, with
    platform markers, via uv), then write environment.yml and binder/environment.yml
    from it; compile requirements-browser.in (the browser test's extras) into
    requirements-browser.txt, constrained by requirements.txt, and requirements-site.in (the
    website's Sphinx) into requirements-site.txt, constrained by both.
    tests/test_environment.py proves they all agree.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

from tools.chapters import NOTEBOOKS, find, written
from tools.notebooks import IGNORE, first_line, normalise, refresh_generated_cells, unexpected_errors

ROOT = NOTEBOOKS.parent
CELL_TIMEOUT = 60  # seconds, as in the validation (pyproject.toml)
UV = "uv==0.13.8"
IMAGES = ("image/png", "image/jpeg", "image/svg+xml")


# --------------------------------------------------------------------------- outputs

def execute(nb, path: Path) -> None:
    """Run every cell of ``nb`` in a fresh kernel of this environment, in its folder."""
    manager = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME,
                            kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(nb, km=manager, timeout=CELL_TIMEOUT, allow_errors=True,
                            record_timing=False, store_widget_state=False,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        # nbclient does not shut down a kernel whose manager it was handed.
        if manager.has_kernel:
            manager.shutdown_kernel(now=False)


def _without_images(outputs) -> list:
    stripped = copy.deepcopy(outputs)
    for output in stripped:
        for mime in IMAGES:
            output.get("data", {}).pop(mime, None)
    return stripped


def keep_stored_images(new, stored) -> int:
    """Where a cell's source and text outputs are unchanged, put back its stored pictures."""
    previous = {(cell.get("id"), cell.source): cell for cell in stored.cells if cell.cell_type == "code"}
    kept = 0
    for cell in new.cells:
        old = previous.get((cell.get("id"), cell.source))
        if cell.cell_type != "code" or old is None or len(old.outputs) != len(cell.outputs):
            continue
        if _without_images(old.outputs) != _without_images(cell.outputs):
            continue
        for new_output, old_output in zip(cell.outputs, old.outputs):
            for mime in IMAGES:
                if mime in new_output.get("data", {}) and mime in old_output.get("data", {}):
                    new_output.data[mime] = old_output.data[mime]
                    kept += 1
    return kept


def keep_ignored_outputs(new, stored) -> int:
    """Where a cell marked ``# NBVAL_IGNORE_OUTPUT`` is unchanged, put back its stored outputs.

    Its output is random by nature (raw timings) and nbval does not compare it: storing each
    run's would make a second ``outputs`` change the notebook. ``--redraw`` stores new ones.
    """
    previous = {(cell.get("id"), cell.source): cell for cell in stored.cells if cell.cell_type == "code"}
    kept = 0
    for cell in new.cells:
        old = previous.get((cell.get("id"), cell.source))
        if cell.cell_type == "code" and old is not None and first_line(cell) == IGNORE:
            cell.outputs = copy.deepcopy(old.outputs)
            kept += 1
    return kept


def outputs(args: list[str]) -> int:
    redraw = "--redraw" in args
    names = [arg for arg in args if arg != "--redraw"]
    unknown = [name for name in names if name.startswith("-")]
    if unknown:
        print(f"outputs: unknown option {unknown[0]}\n\n{__doc__}")
        return 2
    try:
        chapters = [find(name) for name in names] if names else written()
    except ValueError as error:
        print(f"outputs: {error}")
        return 2
    if not chapters:
        print("no chapter notebooks found")
        return 1
    for chapter in chapters:
        stored = nbformat.read(chapter.path, as_version=4)
        nb = copy.deepcopy(stored)
        refresh_generated_cells(nb, chapter)
        print(f"running {chapter.filename} ...", flush=True)
        execute(nb, chapter.path)
        errors = unexpected_errors(nb)
        if errors:
            print(f"{chapter.filename}: not written:\n  " + "\n  ".join(errors))
            return 1
        normalise(nb)
        kept = 0 if redraw else keep_stored_images(nb, stored)
        ignored = 0 if redraw else keep_ignored_outputs(nb, stored)
        nbformat.write(nb, chapter.path)
        said = [f"kept {kept} stored pictures"] * bool(kept) + [f"kept {ignored} ignored outputs"] * bool(ignored)
        print(f"  wrote {chapter.filename}" + (f" ({'; '.join(said)})" if said else ""))
    return 0


# --------------------------------------------------------------------------- lock

ENV_HEADER = """\
# Generated from requirements.in by `python3 course.py lock`: do not edit by hand.
# Conda users: conda env create -f environment.yml && conda activate switchyard && pip install -e .
"""


def environment_yml(requirements: str) -> str:
    pins = [line.strip() for line in requirements.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    lines = [ENV_HEADER.rstrip("\n"), "name: switchyard", "channels:", "  - conda-forge",
             "dependencies:", "  - python=3.11", "  - pip", "  - pip:"]
    lines += [f'      - "{pin}"' for pin in pins]
    return "\n".join(lines) + "\n"


def lock(args: list[str]) -> int:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", UV], check=True)
    compile_ = [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--universal",
                "--python-version", "3.11", "--no-header", *args]
    subprocess.run([*compile_, "requirements.in", "-o", "requirements.txt"], check=True, cwd=ROOT)
    subprocess.run([*compile_, "requirements-browser.in", "-c", "requirements.txt",
                    "-o", "requirements-browser.txt"], check=True, cwd=ROOT)
    subprocess.run([*compile_, "requirements-site.in", "-c", "requirements.txt", "-c", "requirements-browser.txt",
                    "-o", "requirements-site.txt"], check=True, cwd=ROOT)
    subprocess.run([*compile_, "requirements-classroom.in", "-c", "requirements.txt",
                    "-o", "requirements-classroom.txt"], check=True, cwd=ROOT)
    text = environment_yml((ROOT / "requirements.txt").read_text())
    for target in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        target.write_text(text)
        print(f"wrote {target.relative_to(ROOT)}")
    return 0


def normalise_files(args: list[str]) -> int:
    """``normalise [NOTEBOOK...]``: put stored notebooks in canonical form (metadata...) without running them."""
    paths = [Path(arg) for arg in args] or [chapter.path for chapter in written()]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        before = copy.deepcopy(nb)
        normalise(nb)
        if nb != before:
            nbformat.write(nb, path)
            print(f"  normalised {path.name}")
    return 0


def main(argv: list[str]) -> int:
    commands = {"outputs": outputs, "lock": lock, "normalise": normalise_files}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
