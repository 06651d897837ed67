"""pytest plugin that keeps the course's validation honest (loaded from pyproject.toml).

nbval runs each notebook's cells in one kernel. When a cell times out or the kernel
dies, nbval marks every later cell of that notebook ``xfail``, and an xfail does not
fail a pytest run: a hung chapter would pass the validation. This plugin turns those
reports into failures that say what happened.

At the end of the session it also checks that no thread, socket or child process (a
kernel, a server, a subprocess demo) outlived the run, and fails the run if one did.

``tests/browser/`` (every chapter in real JupyterLab in Chromium, Binder's config) needs
extra pins and a browser, so it is collected only with ``--browser``, which
``python3 course.py browser`` passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import leaks

_start: leaks.Snapshot | None = None


def _is_notebook_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--browser", action="store_true", default=False,
                     help="also collect tests/browser (python3 course.py browser)")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not config.getoption("browser") and (
            collection_path == BROWSER_TESTS or BROWSER_TESTS in collection_path.parents):
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Read the sanitize file relative to the repository, wherever pytest was started."""
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not Path(path).is_absolute():
        config.option.nbval_sanitize_with = str(config.rootpath / path)


def pytest_sessionstart(session: pytest.Session) -> None:
    global _start
    _start = leaks.snapshot()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _start is None:
        return
    extra = leaks.leftovers(_start, grace=10.0)
    if extra:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"left behind after the test session: {extra.describe()}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
