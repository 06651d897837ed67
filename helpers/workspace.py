"""The learner's own copies of the chapters, and the progress their checks record.

``python3 course.py lab`` opens ``workspace/`` (beside the course, git-ignored), not the
stored chapters of ``notebooks/``: those are the validated reference, with every output
stored, answers included. This module makes and updates the copies:

- **The copies hide the answers.** A copy is the stored chapter with the outputs of its
  *answer* cells cleared (tag ``answer``): the cells that answer a "Predict, then run" or a
  "Spot the bug", every exercise check, the progress table. Every other cell keeps its
  stored output, so a chapter reads before it runs. Which cells answer is a rule
  (:func:`answer_cells`, with a reviewed table of the answering cells it cannot see,
  :data:`EXTRA_ANSWERS`) that ``course.py normalise`` stores as tags in ``notebooks/``, and
  that the copies apply again themselves; an author adds ``answer`` by hand where the rule
  misses a cell, and ``not-answer`` where it picks the wrong one.
- **Work is never lost** (:func:`sync`, run by every ``course.py lab``). A chapter is
  *edited* when the source of any of its cells differs from the copy as it was made
  (running cells, which changes outputs only, is not editing). When the course changes, a
  chapter never edited is replaced by the new version; an edited one is kept, the new
  version is written beside it (``05_io_models.new-2026-12-06.ipynb``) with a one-line
  notice; a new chapter appears; a chapter the learner deleted comes back. The course never
  deletes or overwrites a file the learner changed. :func:`reset` gives a fresh copy of one
  chapter and keeps the old one as a backup.
- **Progress.** In a workspace, every ``check()`` records the attempt (and every hint shown)
  in ``workspace/.switchyard/progress.json``; :func:`show_progress` and ``course.py progress``
  print it chapter by chapter. Outside a workspace (nbval on ``notebooks/``) nothing is
  recorded and :func:`show_progress` prints one stable line. A progress file that cannot be
  read, or whose fields hold values the course never writes, is set aside (renamed, never
  deleted) and a new one started, with a note: a check never fails because of it.

Standard library only: ``course.py`` and Binder's ``postBuild`` use it before (or without)
the course's environment. Command line: ``python -m helpers.workspace sync|progress``.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import re
import sys
from pathlib import Path

__all__ = ["ANSWER_TAG", "EXTRA_ANSWERS", "NOT_ANSWER_TAG", "answer_cells", "find_workspace", "learner_copy",
           "progress_table", "record", "reset", "show_progress", "sync", "tag_answers"]

ROOT = Path(__file__).resolve().parent.parent  # the course's checkout (helpers is installed editable)
NOTEBOOKS = ROOT / "notebooks"
WORKSPACE = ROOT / "workspace"
WORKSPACE_ENV = "SWITCHYARD_WORKSPACE"  # another folder for the copies (tests, instructors)
STATE = ".switchyard"                   # inside a workspace: the copies as made, the state, progress
STATE_FILE = "workspace.json"
PROGRESS_FILE = "progress.json"

ANSWER_TAG = "answer"          # outputs cleared in the learner's copies
NOT_ANSWER_TAG = "not-answer"  # the rule never picks this cell

# A markdown cell that asks the learner to commit to an answer before running: "**Predict,
# then run.**", "Predict what ...", "### Spot the bug: ...", "## ...: spot the bugs". Capital P /
# S or a heading, so that "you will learn to predict" and a mention of "spot the bug"
# exercises in an introduction are not prompts. Any whitespace between the words: prose is
# wrapped, and "**Spot the\nbug**" is still a prompt.
_PREDICT_OR_SPOT = re.compile(r"\bPredict\b|\bSpot\s+the\s+bugs?\b")
_HEADING_SPOT = re.compile(r"^#+ .*\bspot\s+the\s+bugs?\b", re.M | re.I)
EXERCISE_PROMPT = re.compile(r"^\s*\*\*\d\d\.\d+\b")  # "**03.2 Predict the print order.**"
# Cells whose output is the learner's own: an exercise's verdict, the progress table.
OWN_OUTPUT = re.compile(r"(?<![\w.])(check|show_progress)\(")

# Cells that answer a prompt and that the rule cannot see: they come after the prose that
# follows the answering cells (a second view of the same run: the trace as a list, a timeline,
# a plot, the fixed version whose output shows what the bug was). Found by reading every
# prompt of every chapter up to the prose that gives its answer; by cell id (ids survive
# edits elsewhere in a chapter), per chapter. A cell listed here is an answer like a cell the
# rule picks: `course.py normalise` tags it, the copies clear it. tests/test_repository.py
# holds the reviewed list of every chapter's answer cells, so any change here shows there.
EXTRA_ANSWERS: dict[str, tuple[str, ...]] = {
    "00_start_here": ("6a4cb8f3",     # tracer.order(): who finishes first, who cooks last
                      "44bf7e5d"),    # the same trace as a timeline
    "01_generators": ("d29aca72",),   # the steamer's timeline: who eats dumpling 5
    "03_greenlet": ("c17bd447",       # the scheduler's full trace: bob finishes first
                    "995163fb"),      # and its timeline
    "04_gevent": ("bddd49a1",         # print(tracer): a and b alternate, switch by switch
                  "d8e383a3",         # the counters' timeline
                  "28b0933b"),        # the nappers' timeline: the order they wake up in
    "05_io_models": ("c05-cb537760", "c05-750f3cf0", "c05-e07b276d",  # the three models' timelines
                     "c05-186a5b1b",  # what the second select server printed (its third bug)
                     "c05-6a4c2c69",  # the three epoll ways, 50 runs: the same counts again
                     "c05-4def32f3"),  # the waits' plot: the five verdicts as a picture
    "07_asyncio_tasks": ("47b83c66",  # first of N mirrors done right: the losers cancelled
                         "7223a43f"),  # and its timeline
    "09_asyncio_sync": ("e9e6d059",),  # Semaphore(5)'s timeline: 5 at a time, 4 rounds
    "11_showdown": ("d1cdb24c",),     # the first verdict answers "how many sends per hand-off"
}
_EXTRA_IDS = frozenset(cell_id for ids in EXTRA_ANSWERS.values() for cell_id in ids)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _tags(cell: dict) -> list[str]:
    return list((cell.get("metadata") or {}).get("tags") or [])


def is_prompt(cell: dict) -> bool:
    """Whether a cell asks the learner to predict, or to spot a bug, before running."""
    if cell.get("cell_type") != "markdown":
        return False
    text = _source(cell)
    return bool(_PREDICT_OR_SPOT.search(text) or _HEADING_SPOT.search(text))


def answer_cells(cells: list[dict]) -> list[int]:
    """Indices of the cells whose outputs answer something, by the rule and the tags.

    The rule: after each prompt (:func:`is_prompt`) and before the next one, the first code
    cell that stores an output (a cell that only defines a function shows nothing to hide),
    or the first code cell if none does, and the code cells right after it, up to the next
    markdown cell (a timeline or a plot of the same run answers the same question); cells
    tagged ``not-answer`` are passed over, and for an exercise's prompt ("**NN.k ...") only
    the cells that call ``check(`` count; and every code cell that calls ``check(`` or
    ``show_progress(``. Plus the cells of :data:`EXTRA_ANSWERS` and every cell tagged
    ``answer``; minus every cell tagged ``not-answer``.
    """
    picked: set[int] = set()
    for index, cell in enumerate(cells):
        tags = _tags(cell)
        if NOT_ANSWER_TAG in tags or cell.get("cell_type") != "code":
            if ANSWER_TAG in tags and NOT_ANSWER_TAG not in tags:
                picked.add(index)
            continue
        if ANSWER_TAG in tags or OWN_OUTPUT.search(_source(cell)) or cell.get("id") in _EXTRA_IDS:
            picked.add(index)
    prompts = [index for index, cell in enumerate(cells) if is_prompt(cell)]
    for index, end in zip(prompts, [*prompts[1:], len(cells)]):
        exercise = bool(EXERCISE_PROMPT.match(_source(cells[index])))
        candidates = [later for later in range(index + 1, end)
                      if cells[later].get("cell_type") == "code" and NOT_ANSWER_TAG not in _tags(cells[later])
                      and (not exercise or OWN_OUTPUT.search(_source(cells[later])))]
        shown = [later for later in candidates if cells[later].get("outputs")]
        if not (shown or candidates):
            continue
        first = (shown or candidates)[0]
        picked.add(first)
        later = first + 1
        while not exercise and later < end and cells[later].get("cell_type") == "code":
            if NOT_ANSWER_TAG not in _tags(cells[later]):
                picked.add(later)
            later += 1
    return sorted(picked)


def tag_answers(cells: list[dict]) -> None:
    """Add the ``answer`` tag to every cell the rule picks (in place; keeps other tags, idempotent)."""
    for index in answer_cells(cells):
        cell = cells[index]
        tags = _tags(cell)
        if ANSWER_TAG not in tags:
            cell.setdefault("metadata", {})["tags"] = [*tags, ANSWER_TAG]


def learner_copy(nb: dict) -> dict:
    """The learner's copy of a stored chapter: the same notebook, answers' outputs cleared (and tagged)."""
    made = copy.deepcopy(nb)
    tag_answers(made["cells"])  # as `course.py normalise` tags the reference
    for index in answer_cells(made["cells"]):
        cell = made["cells"][index]
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return made


def sources(nb: dict) -> list[tuple[str, str]]:
    """What the learner writes: every cell's type and source, in order (not outputs, not metadata)."""
    return [(cell.get("cell_type", ""), _source(cell)) for cell in nb.get("cells", [])]


# --------------------------------------------------------------------------- files

def read_notebook(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _dumps(nb: dict) -> str:
    # As nbformat writes a notebook, so a copy made here and one saved by JupyterLab look alike.
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _free_name(folder: Path, stem: str, label: str) -> Path:
    """``stem.label.ipynb``, or ``stem.label-2.ipynb``, ... : a name no file has yet."""
    candidate = folder / f"{stem}.{label}.ipynb"
    number = 2
    while candidate.exists():
        candidate = folder / f"{stem}.{label}-{number}.ipynb"
        number += 1
    return candidate


def _today() -> str:
    return datetime.date.today().isoformat()


def _now() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")


def default_workspace() -> Path:
    return Path(os.environ.get(WORKSPACE_ENV) or WORKSPACE).resolve()


def _load_state(workspace: Path) -> dict:
    try:
        state = json.loads((workspace / STATE / STATE_FILE).read_text(encoding="utf-8"))
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_state(workspace: Path, state: dict) -> None:
    _write(workspace / STATE / STATE_FILE, json.dumps(state, indent=1, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- make, update, reset

def sync(workspace: Path | None = None, notebooks: Path = NOTEBOOKS) -> list[str]:
    """Make the workspace on first use, or bring it up to date with ``notebooks``; return notices.

    For each stored chapter, compared with the copy as it was last made (kept in
    ``.switchyard/made/``): missing from the workspace, it is made (a new chapter, or one the
    learner deleted); unchanged by the course, nothing happens; changed by the course and never
    edited by the learner, it is replaced; edited, it is kept and the new version is written
    beside it, once per course version. A file the course never made keeps its place too.
    Nothing is deleted.
    """
    workspace = Path(workspace or default_workspace())
    first = not (workspace / STATE / STATE_FILE).exists()
    state = _load_state(workspace)
    offered: dict = state.setdefault("offered", {})
    state["course"] = str(notebooks.resolve().parent)
    notices: list[str] = []
    made_count = 0
    for stored in sorted(Path(notebooks).glob("[0-9][0-9]_*.ipynb")):
        name = stored.name
        fresh = learner_copy(read_notebook(stored))
        fresh_text = _dumps(fresh)
        target, made_path = workspace / name, workspace / STATE / "made" / name
        made = read_notebook(made_path) if made_path.exists() else None
        if not target.exists():
            _write(target, fresh_text)
            _write(made_path, fresh_text)
            made_count += 1
            if not first:
                notices.append(f"{name}: " + ("a fresh copy (it was not in your workspace)" if made is not None
                                              else "a new chapter"))
            continue
        if made is not None and _dumps(made) == fresh_text:
            continue  # the course did not change this chapter
        mine = read_notebook(target)
        base = made if made is not None else fresh
        if made is not None and sources(mine) == sources(made):
            _write(target, fresh_text)  # never edited (running cells is not editing): the new version
            _write(made_path, fresh_text)
            if not first:
                notices.append(f"{name}: updated to the course's new version")
            continue
        if sources(mine) == sources(fresh):
            _write(made_path, fresh_text)  # already what the course has now: adopt it as made
            continue
        if made is not None and sources(fresh) == sources(base):
            _write(made_path, fresh_text)  # the course changed only stored outputs: nothing to offer
            continue
        digest = _digest(fresh_text)
        if offered.get(name) == digest:
            continue  # this version is beside it already
        beside = _free_name(workspace, stored.stem, f"new-{_today()}")
        _write(beside, fresh_text)
        offered[name] = digest
        reason = "you edited it" if made is not None else "a file of yours has its name"
        notices.append(f"{name}: kept ({reason}); the course's new version is beside it: {beside.name}")
    if first and made_count:
        notices.append(f"made your own copies of {made_count} chapters in {workspace} "
                       "(the course's stored chapters stay in notebooks/)")
    _save_state(workspace, state)
    return notices


def reset(name: str, workspace: Path | None = None, notebooks: Path = NOTEBOOKS) -> str:
    """A fresh copy of chapter file ``name`` in the workspace; the old one is kept as a backup."""
    workspace = Path(workspace or default_workspace())
    stored = Path(notebooks) / name
    if not stored.exists():
        raise FileNotFoundError(f"no stored chapter {name} in {notebooks}")
    if not (workspace / STATE / STATE_FILE).exists():
        sync(workspace, notebooks)  # no workspace yet: make it whole first
    fresh_text = _dumps(learner_copy(read_notebook(stored)))
    target = workspace / name
    notice = f"{name}: a fresh copy"
    if target.exists():
        backup = _free_name(workspace, stored.stem, f"backup-{_now()}")
        os.replace(target, backup)
        notice += f"; your old copy is {backup.name}"
    _write(target, fresh_text)
    _write(workspace / STATE / "made" / name, fresh_text)
    state = _load_state(workspace)
    state.setdefault("offered", {}).pop(name, None)
    state.setdefault("course", str(Path(notebooks).resolve().parent))
    _save_state(workspace, state)
    return notice


# --------------------------------------------------------------------------- progress

def find_workspace(start: Path | None = None) -> Path | None:
    """The workspace the folder ``start`` (the kernel's, by default) lies in, or None."""
    try:
        folder = Path(start or Path.cwd()).resolve()
    except OSError:
        return None
    for candidate in (folder, *folder.parents):
        if (candidate / STATE / STATE_FILE).is_file():
            return candidate
    return None


def _empty_progress() -> dict:
    return {"version": 1, "exercises": {}}


def _count(value: object) -> bool:
    return type(value) is int and value >= 0  # not a bool, not "two", not -1


def _is_progress(data: object) -> bool:
    """Whether ``data`` is a progress record that :func:`record` and :func:`progress_table` can use.

    Every field an entry has must hold what the course writes there: ``attempts`` and ``hints``
    counts, ``solved`` a bool, ``last`` a string. A file that is well-formed JSON with other
    values in them (``"hints": "two"``) is garbage like any other.
    """
    if not (isinstance(data, dict) and isinstance(data.get("exercises"), dict)):
        return False
    for entry in data["exercises"].values():
        if not isinstance(entry, dict):
            return False
        if not all(_count(entry[key]) for key in ("attempts", "hints") if key in entry):
            return False
        if not isinstance(entry.get("solved", False), bool) or not isinstance(entry.get("last", ""), str):
            return False
    return True


def load_progress(workspace: Path) -> tuple[dict, str | None]:
    """The recorded progress and a note if the file had to be set aside (renamed, never deleted)."""
    path = workspace / STATE / PROGRESS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty_progress(), None
    except OSError as error:
        return _empty_progress(), f"(progress: could not read {path.name}: {error}; starting a new one)"
    try:
        data = json.loads(text)
        if not _is_progress(data):
            raise ValueError("not a progress record")
    except ValueError:
        aside = path.with_name(f"{PROGRESS_FILE}.unreadable-{_now()}")
        try:
            os.replace(path, aside)
        except OSError:
            pass
        return _empty_progress(), f"(progress: {path.name} was unreadable; kept it as {aside.name}, started a new one)"
    return data, None


def record(number: str, status: str | None = None, hints: int | None = None,
           workspace: Path | None = None) -> str | None:
    """Record one check's ``status`` or the ``hints`` stage shown, if the kernel runs in a workspace.

    Returns a note for the learner when the progress file had to be rebuilt, else None.
    Outside a workspace (nbval on ``notebooks/``) it does nothing.
    """
    workspace = workspace or find_workspace()
    if workspace is None:
        return None
    data, note = load_progress(workspace)
    entry = data["exercises"].setdefault(number, {})
    entry.setdefault("attempts", 0)
    entry.setdefault("solved", False)
    entry.setdefault("hints", 0)
    if status in ("solved", "wrong", "error"):
        entry["attempts"] = int(entry.get("attempts") or 0) + 1
        entry["last"] = status
    if status == "solved":
        entry["solved"] = True
    if hints is not None:
        entry["hints"] = max(int(entry.get("hints") or 0), hints)
    _write(workspace / STATE / PROGRESS_FILE, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return note


def exercises_by_chapter(notebooks: Path = NOTEBOOKS) -> dict[str, list[str]]:
    """Every exercise the stored chapters check, by chapter file stem: {"05_io_models": ["05.1", ...]}."""
    found: dict[str, list[str]] = {}
    for path in sorted(Path(notebooks).glob("[0-9][0-9]_*.ipynb")):
        numbers = re.findall(r'check\(\\?"(\d\d\.\d+)\\?"', path.read_text(encoding="utf-8"))
        found[path.stem] = sorted(set(numbers), key=lambda n: tuple(map(int, n.split("."))))
    return found


def progress_table(workspace: Path, notebooks: Path = NOTEBOOKS) -> str:
    """The learner's progress, a row per chapter: exercises, attempted, solved, hints taken."""
    data, note = load_progress(workspace)
    done = data["exercises"]
    rows = [f"{'chapter':<22} {'exercises':>9} {'attempted':>9} {'solved':>6} {'hints':>5}"]
    totals = [0, 0, 0, 0]
    for stem, numbers in exercises_by_chapter(notebooks).items():
        if not numbers:
            continue
        entries = [done.get(number, {}) for number in numbers]
        counts = [len(numbers), sum(1 for e in entries if e.get("attempts")),
                  sum(1 for e in entries if e.get("solved")), sum(int(e.get("hints") or 0) for e in entries)]
        totals = [a + b for a, b in zip(totals, counts)]
        rows.append(f"{stem:<22} {counts[0]:>9} {counts[1]:>9} {counts[2]:>6} {counts[3]:>5}")
    rows.append(f"{'all':<22} {totals[0]:>9} {totals[1]:>9} {totals[2]:>6} {totals[3]:>5}")
    return "\n".join(([note] if note else []) + rows)


NO_WORKSPACE = ("No workspace in use: progress is recorded in your own copies of the chapters "
                "(python3 course.py lab opens them).")


def show_progress() -> None:
    """Print the learner's progress table, or one line saying no workspace is in use."""
    workspace = find_workspace()
    print(NO_WORKSPACE if workspace is None else progress_table(workspace))


def main(argv: list[str]) -> int:
    if argv[:1] == ["sync"]:
        for notice in sync(Path(argv[1]) if len(argv) > 1 else None):
            print(notice)
        return 0
    if argv[:1] == ["progress"]:
        workspace = Path(argv[1]) if len(argv) > 1 else default_workspace()
        if not (workspace / STATE / STATE_FILE).exists():
            print(f"No workspace yet at {workspace}: python3 course.py lab makes it.")
        else:
            print(progress_table(workspace))
        return 0
    print("usage: python -m helpers.workspace sync|progress [WORKSPACE]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
