"""helpers.leftovers: the chapters' closing check counts what a chapter left, even on a second run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest

import helpers.leftovers as leftovers


@pytest.fixture(autouse=True)
def fresh_kernel(monkeypatch):
    """Each test is a kernel of its own: no baseline, no pool owned yet."""
    monkeypatch.setattr(leftovers, "_first", None)
    monkeypatch.setattr(leftovers, "_owned", None)


def test_nothing_started_reports_zero_of_each_kind():
    start = leftovers.watch()
    found = leftovers.report(start, grace=0)
    assert not found
    assert found.text() == (
        "tasks of this chapter still running: 0\n"
        "threads of this chapter still running: 0\n"
        "child processes of this chapter still running: 0"
    )


def test_a_thread_still_running_is_counted_and_named_and_not_once_it_ended():
    start = leftovers.watch()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="left-behind")
    thread.start()
    try:
        found = leftovers.report(start, grace=0.2)
        assert found.threads == ("left-behind",)
        assert "threads of this chapter still running: 1 (left-behind)" in found.text()
    finally:
        stop.set()
        thread.join()
    assert not leftovers.report(start, grace=0)


def test_a_thread_that_is_ending_gets_the_grace_period():
    start = leftovers.watch()
    thread = threading.Thread(target=time.sleep, args=(0.3,), name="ending")
    thread.start()
    assert not leftovers.report(start, grace=3.0)
    thread.join()


def test_a_second_run_compares_with_the_kernel_before_the_first_run():
    first = leftovers.watch()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="from-the-first-run")
    thread.start()  # the first run leaves it behind
    try:
        second = leftovers.watch()  # the setup cell runs again
        assert second is first
        assert leftovers.report(second, grace=0).threads == ("from-the-first-run",)
    finally:
        stop.set()
        thread.join()


def test_a_child_process_is_counted_until_it_is_reaped():
    start = leftovers.watch()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        found = leftovers.report(start, grace=0)
        assert len(found.children) == 1 and f"pid {child.pid}" in found.children[0]
    finally:
        child.kill()
        child.wait()
    assert not leftovers.report(start, grace=0)


def test_a_task_still_pending_is_counted():
    async def main():
        start = leftovers.watch()
        task = asyncio.create_task(asyncio.sleep(10), name="forgotten")
        await asyncio.sleep(0)
        found = leftovers.report(start, grace=0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return found, leftovers.report(start, grace=0)

    found, after = asyncio.run(main())
    assert found.tasks == ("forgotten",)
    assert not after


def test_the_loops_default_pool_is_the_chapters_and_is_closed_by_the_report():
    async def main():
        start = leftovers.watch()
        names = await asyncio.gather(*(asyncio.to_thread(lambda: threading.current_thread().name)
                                       for _ in range(3)))
        before_report = leftovers._measure(start)
        found = leftovers.report(start)
        again = await asyncio.to_thread(lambda: "still works")  # later cells may use the pool
        found_again = leftovers.report(start)
        return names, before_report, found, again, found_again

    names, before_report, found, again, found_again = asyncio.run(main())
    assert all(name.startswith("chapter_pool") for name in names)
    assert before_report.threads  # the idle pool threads were alive: the leak the report closes
    assert not found.threads
    assert again == "still works"
    assert not found_again.threads


def test_the_kernels_own_packages_are_recognised_by_file(tmp_path, monkeypatch):
    import zmq.utils.garbage

    assert leftovers._is_kernel_file(zmq.utils.garbage.__file__)
    # pycares (aiohttp's resolver, one shutdown thread per process) is installed only where aiodns
    # is, e.g. beside the classroom's pins: a package of that name on sys.path stands in for it.
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "pycares").mkdir()
    (tmp_path / "pycares" / "__init__.py").write_text("")
    (tmp_path / "pycaresque.py").write_text("")
    assert leftovers._is_kernel_file(str(tmp_path / "pycares" / "__init__.py"))
    assert not leftovers._is_kernel_file(str(tmp_path / "pycaresque.py"))
    assert not leftovers._is_kernel_file(threading.__file__)
    assert not leftovers._is_kernel_file(leftovers.__file__)
    assert not leftovers._is_kernel_file(None)


def test_a_process_wide_librarys_thread_is_left_out_here_and_by_the_unit_tests_leak_check(tmp_path, monkeypatch):
    from tools import leaks

    # A package named pycares on sys.path stands in for the real one (installed only with aiodns).
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "pycares").mkdir()
    (tmp_path / "pycares" / "__init__.py").write_text(
        "import threading\n"
        "stop = threading.Event()\n"
        "def _run_safe_shutdown_loop():\n"
        "    stop.wait()\n")
    monkeypatch.delitem(sys.modules, "pycares", raising=False)
    import pycares

    start = leftovers.watch()
    before = leaks.snapshot()
    library = threading.Thread(target=pycares._run_safe_shutdown_loop, daemon=True)
    stop = threading.Event()
    ours = threading.Thread(target=stop.wait, name="ours")
    library.start()
    ours.start()
    try:
        assert leftovers.is_process_wide(library)
        assert not leftovers.is_process_wide(ours)
        assert leftovers.report(start, grace=0).threads == ("ours",)
        extra = leaks.leftovers(before, grace=0)
        assert [name.split("#")[0] for name in extra.threads] == ["ours"]
    finally:
        stop.set()
        pycares.stop.set()
        ours.join()
        library.join()
    assert not leaks.leftovers(before, grace=0)
