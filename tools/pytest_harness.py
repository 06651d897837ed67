"""pytest plugin that keeps the course's validation honest (loaded from pyproject.toml).

nbval runs each notebook's cells in one kernel. When a cell times out or the kernel
dies, nbval marks every later cell of that notebook ``xfail``, and an xfail does not
fail a pytest run: a hung chapter would pass the validation. This plugin turns those
reports into failures that say what happened.

At the end of the session it also checks that no thread, socket or child process (a
kernel, a server, a subprocess demo) outlived the run, and fails the run if one did.

It makes the validation parallel (pytest-xdist, ``-n auto --dist loadfile`` in
pyproject.toml): ``auto`` is two workers per CPU, or ``SWITCHYARD_WORKERS``; a
notebook file is one unit of work (its cells share one kernel, in order) while every
other test is a unit of its own, so the slow ones (the harness's proofs that wait for
timeouts) spread over the workers. The notebooks are sent first, the one with the most
cells first (xdist's loadscope reordering), then the slow single tests, then the rest:
the longest units start early, quick ones fill the end. Leftovers found in a worker are
reported to the controller, which fails the run.

It runs every chapter twice in the same kernel: after a notebook's cells, the same
cells again (``Cell 3 (second run)``), compared with the stored outputs by nbval like
the first run. Learners re-run cells without restarting; nothing may work only once.

It selects one chapter (``--chapter 05``, what ``python3 course.py test 05`` passes):
the chapter's notebook (both runs) and the tests marked ``@pytest.mark.chapter("05")``
(its exercises' checks).

It guards memory: while a notebook's cells run, a :class:`tools.memory.PeakWatch` follows
its kernel and the processes the kernel started; the cell after which the peak passes
``--kernel-memory-limit`` MB (1024: Binder guarantees 1 GB) fails, with the figure.

It runs the chapters on every Python version given with ``--pythons`` too (the stored
outputs are made with the reference version, 3.11; they must hold on 3.12 and 3.13):
``notebooks/04_gevent.ipynb::python3.12::Cell 3`` is chapter 04's cell 3 in a kernel of
``.venv-3.12/`` (``python3 course.py test`` builds it with the same pins). Each version
of a chapter is a unit of work of its own, spread over the workers like the others.

It ends with a table, chapter -> Python -> first run -> second run -> peak memory, built
from the test reports (so it works under xdist: the figures travel in ``user_properties``).

``tests/browser/`` (every chapter in real JupyterLab in Chromium, Binder's config) needs
extra pins and a browser, so it is collected only with ``--browser``, which
``python3 course.py browser`` passes.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import TypeGuard
from unittest import mock

import nbval.kernel
import pytest
from jupyter_client.manager import KernelManager
from nbval.plugin import IPyNbCell, IPyNbFile

from helpers._checks import seconds
from tools import leaks
from tools.chapters import CHAPTERS, find
from tools.memory import MB, PeakWatch
from tools.pythons import label, venv_dir, venv_python

# The hooks are found by pytest by name; these are the names other modules may import.
__all__ = ["MAX_WORKERS", "MEMORY_LIMIT_MB", "WORKERS_ENV", "OtherPythonNotebook", "chapter_table",
           "default_workers", "other_pythons"]

MEMORY_LIMIT_MB = 1024  # Binder's guarantee; --kernel-memory-limit overrides it (the proof uses a low one)
WORKERS_ENV = "SWITCHYARD_WORKERS"
MAX_WORKERS = 16
LEAK_GRACE = 10.0  # seconds the session's leak check waits for kernels and servers to finish stopping
HEAVY = ("tests/test_harness.py::",)  # long single tests (they wait for timeouts), sent to workers first
_CHAPTER = "switchyard_chapter"  # user_properties keys that carry the table's figures
_COLUMN = "switchyard_column"
_PEAK = "switchyard_peak"
_PYTHON = "switchyard_python"
ROOT = Path(__file__).resolve().parent.parent
THIS_PYTHON = label(sys.version_info[:2])

_start: leaks.Snapshot | None = None
_watches: dict[str, PeakWatch] = {}   # notebook path -> its kernel's watch (this process)
_peaks: dict[str, int] = {}           # notebook path -> peak bytes seen so far
_over: set[str] = set()               # notebooks already failed for memory
_worker_leftovers: list[str] = []     # controller: what workers reported left behind
_table: dict[tuple[str, str], dict[str, float]] = {}  # controller: (chapter, python) -> column -> seconds / bytes


def _is_notebook_cell(item: pytest.Item) -> TypeGuard[IPyNbCell]:
    return type(item).__name__ == "IPyNbCell"


def _notebook_chapter(path: Path) -> str | None:
    for chapter in CHAPTERS:
        if chapter.path == path:
            return chapter.number
    return None


def _chapter_of(item: pytest.Item) -> tuple[str | None, str]:
    """(chapter number or None, the closing table's column for its time or "") of a collected item."""
    if _is_notebook_cell(item):
        return _notebook_chapter(Path(item.path)), "second" if item.name.endswith("(second run)") else "first"
    mark = item.get_closest_marker("chapter")
    if mark is None or not mark.args:
        return None, ""
    return str(mark.args[0]), ""


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


# --------------------------------------------------------------------------- other Pythons

def other_pythons(config: pytest.Config) -> dict[str, Path]:
    """``--pythons``: version label ("3.12") -> the python of its ``.venv-X.Y``; UsageError if one is missing.

    Empty (the default) runs the notebooks on this Python only; ``python3 course.py test``
    passes every version it found and built an environment for.
    """
    text = config.getoption("pythons") or ""
    found: dict[str, Path] = {}
    for name in [part for part in re.split(r"[\s,]+", text) if part]:
        match = re.fullmatch(r"(\d+)\.(\d+)", name)
        if not match:
            raise pytest.UsageError(f"--pythons: {name!r} is not a version such as 3.12")
        if name == THIS_PYTHON:
            continue  # the notebooks run on this one anyway
        python = venv_python(venv_dir(ROOT, (int(match.group(1)), int(match.group(2)))))
        if not python.exists():
            raise pytest.UsageError(f"--pythons: no {python} (python3 course.py test builds it from requirements.txt)")
        found[name] = python
    return found


@contextmanager
def _kernels_of(python: Path, version: str):
    """While nbval starts a kernel: a kernel of ``python`` (another venv) instead of this environment's."""
    venv = python.parent.parent

    class OtherPythonSpecs(nbval.kernel.NbvalKernelspecManager):
        def get_kernel_spec(self, kernel_name):
            return self.kernel_spec_class(
                argv=[str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python {version}", language="python", resource_dir=str(venv),
                env={"VIRTUAL_ENV": str(venv), "PATH": str(python.parent) + os.pathsep + os.environ.get("PATH", "")})

    with mock.patch.object(nbval.kernel, "NbvalKernelspecManager", OtherPythonSpecs):
        yield


class OtherPythonNotebook(IPyNbFile):
    """A notebook run in a kernel of another Python version (``path::python3.12``); nbval does the rest."""

    def __init__(self, *args, python_version: str, python: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.python_version = python_version
        self.python = python

    def setup(self):
        with _kernels_of(self.python, self.python_version):
            super().setup()


class _CollectOn:
    """Collects every notebook once more, to run on one other Python (one instance per version)."""

    def __init__(self, version: str, python: Path):
        self.version, self.python = version, python

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector):
        option = parent.config.option
        if not ((option.nbval or option.nbval_lax) and file_path.suffix == ".ipynb"):
            return None
        try:
            where = file_path.relative_to(parent.config.rootpath).as_posix()
        except ValueError:
            where = file_path.as_posix()
        return OtherPythonNotebook.from_parent(parent, path=file_path, nodeid=f"{where}::python{self.version}",
                                               python_version=self.version, python=self.python)


def _python_of(item: pytest.Item) -> str:
    return getattr(item.parent, "python_version", THIS_PYTHON)


# --------------------------------------------------------------------------- memory guard

def _kernel_pid(item: pytest.Item) -> int | None:
    """The pid of the kernel nbval started for this cell's notebook (jupyter_client's provisioner)."""
    kernel = getattr(item.parent, "kernel", None)
    manager = getattr(kernel, "km", None)
    pid = getattr(getattr(manager, "provisioner", None), "pid", None)
    return pid if isinstance(pid, int) and pid > 0 else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    yield
    if not _is_notebook_cell(item):
        return
    notebook = item.parent.nodeid  # one notebook per Python version
    pid = _kernel_pid(item)
    watch = _watches.get(notebook)
    if pid is None or (watch is not None and watch.pid == pid):
        return
    if watch is not None:  # nbval restarted the kernel: keep the old peak, follow the new one
        _peaks[notebook] = max(_peaks.get(notebook, 0), watch.stop())
    _watches[notebook] = PeakWatch(pid)
    if watch is None:
        item.parent.addfinalizer(lambda: _stop_watch(notebook))


def _stop_watch(notebook: str) -> None:
    watch = _watches.pop(notebook, None)
    if watch is not None:
        _peaks[notebook] = max(_peaks.get(notebook, 0), watch.stop())


def _memory_verdict(item: IPyNbCell, report: pytest.TestReport) -> None:
    """Record the kernel's peak on the report; fail the cell after which it passed the limit."""
    notebook = item.parent.nodeid
    watch = _watches.get(notebook)
    peak = max(_peaks.get(notebook, 0), watch.sample() if watch is not None else 0)
    _peaks[notebook] = peak
    report.user_properties.append((_PEAK, peak))
    limit = item.config.getoption("kernel_memory_limit")
    if peak <= limit * MB or notebook in _over:
        return
    _over.add(notebook)
    message = (f"{Path(item.path).name}: the kernel and the processes it started reached {peak / MB:.0f} MB by the end "
               f"of this cell, over the {limit} MB limit (Binder guarantees a learner 1 GB). "
               "Make the chapter's demos smaller, or free memory before the next cell.")
    if report.passed:
        report.outcome = "failed"
        report.longrepr = message
    else:
        report.longrepr = f"{report.longrepr}\n\n{message}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    chapter, column = _chapter_of(item)
    if chapter is not None and column:
        report.user_properties.extend([(_CHAPTER, chapter), (_COLUMN, column), (_PYTHON, _python_of(item))])
    if _is_notebook_cell(item) and report.when == "call":
        _memory_verdict(item, report)
    # nbval adds this mark to every cell after a timeout or a dead kernel; depending on
    # what the cell then does, pytest would report it xfailed, xpassed or (strict) failed.
    mark = item.get_closest_marker("xfail") if _is_notebook_cell(item) else None
    if mark is not None and report.when == "call":
        if hasattr(report, "wasxfail"):
            del report.wasxfail
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: this cell was not validated because an earlier cell of the "
            f"notebook hung or killed its kernel (nbval: {mark.kwargs.get('reason', '')!r}). "
            "A notebook that hangs fails the validation."
        )


BROWSER_TESTS = Path(__file__).resolve().parent.parent / "tests" / "browser"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be 1 or more, not {value}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--browser", action="store_true", default=False,
                     help="also collect tests/browser (python3 course.py browser)")
    parser.addoption("--chapter", default=None, metavar="NN",
                     help="one chapter: its notebook (run twice) and its exercises (python3 course.py test NN)")
    parser.addoption("--leak-grace", type=float, default=LEAK_GRACE, metavar="SECONDS",
                     help=f"how long the end-of-session leak check waits for processes to go (default {LEAK_GRACE:g})")
    parser.addoption("--second-run", choices=("chapters", "all", "no"), default="chapters",
                     help="run the cells of each chapter (or of every notebook) twice in one kernel (default chapters)")
    parser.addoption("--pythons", default=None, metavar="3.12,3.13",
                     help="also run the chapters on these Python versions, each in .venv-X.Y beside the course "
                          "(default: every .venv-X.Y there; python3 course.py test builds them)")
    parser.addoption("--kernel-memory-limit", type=_positive_int, default=MEMORY_LIMIT_MB, metavar="MB",
                     help=f"fail a notebook whose kernel and children pass this memory (default {MEMORY_LIMIT_MB})")


def default_workers() -> int:
    """Workers for ``-n auto``: ``SWITCHYARD_WORKERS`` if set, else two per CPU this process may use (at most 16).

    Two per CPU because much of the validation waits rather than computes (the harness's
    proofs wait for timeouts, demos sleep): measured on 2 CPUs shared with other work, the
    whole validation took 83 s with 2 workers, 49 s with 4 and 48 s with 6. Each worker
    runs at most one kernel at a time (about 100-160 MB), hence the cap.
    """
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text:
        try:
            return _positive_int(text)
        except ValueError:
            raise pytest.UsageError(f"{WORKERS_ENV} must be a whole number, 1 or more; not {text!r}") from None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    return min(MAX_WORKERS, 2 * max(1, cpus))


@pytest.hookimpl(tryfirst=True)  # before xdist's own answer (the CPU count)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    return default_workers()


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile``, refined: a notebook stays one unit, every other test is a unit of its own."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid.rsplit("::", 1)[0] if path.endswith(".ipynb") else nodeid  # the notebook on one Python

    return NotebookScheduling(config, log)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not config.getoption("browser") and (
            collection_path == BROWSER_TESTS or BROWSER_TESTS in collection_path.parents):
        return True
    return None


class IpcKernelManager(KernelManager):
    """nbval's kernels talk to pytest over Unix sockets in a folder of their own, not TCP ports.

    Over TCP, jupyter_client finds five free ports, closes them and writes them into the
    connection file; the kernel binds them a moment later. When other programs start kernels
    at the same time (four validations at once, a classroom), one of them can take a port
    first, and the kernel dies before it answers ("Kernel died before replying to
    kernel_info": every cell of that notebook then errors). It happened once in four
    validations at once here, and jupyter_client's maintainers describe the same race. No
    other process can take a file name in a fresh private folder.
    """

    def __init__(self, **kwargs):
        self._ipc_folder = tempfile.mkdtemp(prefix="switchyard-kernel-")
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(self._ipc_folder, "kernel"))
        super().__init__(**kwargs)
        # the manager removes its socket files at shutdown; the folder goes with the manager
        weakref.finalize(self, shutil.rmtree, self._ipc_folder, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    """Read the sanitize file relative to the repository; check --chapter; declare the marker;
    nbval's kernels over Unix sockets (:class:`IpcKernelManager`)."""
    if sys.platform != "win32":
        nbval.kernel.KernelManager = IpcKernelManager
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not Path(path).is_absolute():
        config.option.nbval_sanitize_with = str(config.rootpath / path)
    config.addinivalue_line("markers", "chapter(number): the test belongs to chapter NN "
                            "(python3 course.py test NN runs it with the chapter's notebook)")
    try:
        seconds(config.getoption("leak_grace"), "--leak-grace", zero_ok=True)
    except (TypeError, ValueError) as error:
        raise pytest.UsageError(str(error)) from None
    if config.getoption("chapter"):
        try:
            config.option.chapter = find(config.getoption("chapter")).number
        except ValueError as error:
            raise pytest.UsageError(f"--chapter: {error}") from None
    for version, python in other_pythons(config).items():
        config.pluginmanager.register(_CollectOn(version, python), f"switchyard-python{version}")


def _second_run(config: pytest.Config, items: list[pytest.Item]) -> list[pytest.Item]:
    """After each notebook's cells, the same cells again in the same kernel (nbval compares them too).

    Learners re-run cells and whole chapters without restarting the kernel: servers must
    not collide, tracers must not pile up events, nothing may work only once. So every
    chapter (``--second-run=all``: every notebook) runs twice in one kernel, and the second
    run's outputs must match the stored ones just as the first run's do. Cheaper than a
    separate test: no second kernel, no third run of the chapter.
    """
    which = config.getoption("second_run")
    if which == "no":
        return items
    result: list[pytest.Item] = []
    for index, item in enumerate(items):
        result.append(item)
        following = items[index + 1] if index + 1 < len(items) else None
        if not _is_notebook_cell(item) or (following is not None and following.parent is item.parent):
            continue
        if which == "chapters" and _notebook_chapter(Path(item.path)) is None:
            continue
        cells = [cell for cell in items if _is_notebook_cell(cell) and cell.parent is item.parent]
        result += [type(cell).from_parent(cell.parent, name=f"{cell.name} (second run)", cell_num=cell.cell_num,
                                          cell=cell.cell, options=cell.options) for cell in cells]
    return result


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the second runs; keep only the chosen chapter's items; slow single tests before the quick ones."""
    items[:] = _second_run(config, items)
    chosen = config.getoption("chapter")
    if chosen:
        keep = [item for item in items if _chapter_of(item)[0] == chosen]
        dropped = [item for item in items if _chapter_of(item)[0] != chosen]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    # Sorting is stable: within each group the collection order stays.
    items.sort(key=lambda item: 0 if _is_notebook_cell(item) else 1 if item.nodeid.startswith(HEAVY) else 2)


def pytest_sessionstart(session: pytest.Session) -> None:
    global _start
    _start = leaks.snapshot()


def pytest_testnodedown(node, error) -> None:
    """Controller: a worker finished; note what it found left behind."""
    found = getattr(node, "workeroutput", {}).get("switchyard_leftovers")
    if found:
        _worker_leftovers.append(f"{found} (worker {node.gateway.id})")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add a report's figures to the closing table (in the controller under xdist)."""
    properties = dict(report.user_properties)  # under xdist the pairs arrive as lists: dict() takes both
    chapter = properties.get(_CHAPTER)
    if not isinstance(chapter, str):
        return
    row = _table.setdefault((chapter, str(properties.get(_PYTHON, THIS_PYTHON))), {})
    column = str(properties.get(_COLUMN, ""))
    row[column] = row.get(column, 0.0) + report.duration
    peak = properties.get(_PEAK)
    if isinstance(peak, int | float):
        row["peak"] = max(row.get("peak", 0), peak)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def chapter_table(table: dict[tuple[str, str], dict[str, float]], limit_mb: int) -> list[str]:
    """The closing table's lines: chapter, Python, first run's time, second run's time, peak memory."""
    names = {chapter.number: chapter.slug for chapter in CHAPTERS}
    lines = [f"{'chapter':<22}{'python':>7}{'first run':>10}{'second':>10}{'peak memory':>14}"]
    for number, version in sorted(table, key=lambda key: (key[0], _version_key(key[1]))):
        row = table[number, version]
        cells = [f"{row[column]:.1f} s" if column in row else "-" for column in ("first", "second")]
        peak = f"{row['peak'] / MB:.0f} MB" if row.get("peak") else "-"
        lines.append(f"{names.get(number, number):<22}{version:>7}{cells[0]:>10}{cells[1]:>10}{peak:>14}")
    lines.append(f"(first run with the kernel's start, second run of the same cells in the same kernel "
                 f"with its stop; peak: the kernel and its processes, limit {limit_mb} MB)")
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _table and not _is_worker(config):
        terminalreporter.section("time and memory per chapter")
        for line in chapter_table(_table, config.getoption("kernel_memory_limit")):
            terminalreporter.write_line(line)


def _worker_output(config: pytest.Config) -> dict[str, object]:
    """What a pytest-xdist worker sends the controller when it finishes (xdist adds it to a worker's config)."""
    assert hasattr(config, "workeroutput"), "not an xdist worker"
    return config.workeroutput


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for notebook in list(_watches):
        _stop_watch(notebook)
    if _start is None:
        return
    extra = leaks.leftovers(_start, grace=session.config.getoption("leak_grace"))
    found = [f"{extra.describe()}"] if extra else []
    if _is_worker(session.config):
        if found:  # a worker's exit status is not the run's: tell the controller
            _worker_output(session.config)["switchyard_leftovers"] = found[0]
        return
    found += _worker_leftovers
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"left behind after the test session: {'; '.join(found)}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
