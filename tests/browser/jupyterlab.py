"""Drive the course in real JupyterLab in a real browser, as a learner would.

Used by ``tests/browser/`` (run with ``python3 course.py browser``):

    Lab(root_dir, workdir)           a JupyterLab server on 127.0.0.1 with the course's own
        .start() / .stop()           options (``course.lab_options``), a random token, a port
        .url(path)                   the OS picks, and settings, workspaces and runtime files
                                     kept in ``workdir`` (never in the user's home)
    open_browser()                   Playwright driving Debian's chromium, headless
    run_all(page, lab, name)         open a notebook, Run All, wait until the kernel has
        -> LabRun                    answered every cell, and read back the notebook model
                                     and what the page shows (and save screenshots of it)
    LabRun.problems()                every way the run falls short: an error output in a cell
                                     not meant to raise, a cell that never ran, a widget that
                                     did not render, a plot that is not shown

Two settings differ from a learner's first start, both so that the test sees what a
learner would see once they scroll: JupyterLab's news prompt is answered "no", and
notebook windowing is off, so every cell is in the page (not only those on screen).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

import course
from tools.build import IMAGES
from tools.notebooks import WIDGET_VIEW, unexpected_errors

CHROMIUM = os.environ.get("SWITCHYARD_CHROMIUM", course.CHROMIUM)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# What ipywidgets' JupyterLab manager shows instead of a widget it cannot render.
WIDGET_FAILURES = ("Loading widget...", "Error displaying widget", "model not found")

SETTINGS = {
    # The "would you like news?" prompt would cover the notebook on a first start.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # Keep every cell in the page, so the checks below see all outputs.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def isolated_env(workdir: Path) -> dict[str, str]:
    """Environment for a JupyterLab whose state lives in ``workdir``, not in ``~``."""
    env = dict(os.environ)
    env.update(
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(workdir / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        BROWSER="true",  # if a command would open a browser, it opens nothing
        # course.lab_options names helpers._lab; `course.py lab` runs from the checkout, this from workdir
        PYTHONPATH=os.pathsep.join(filter(None, [str(Path(course.ROOT)), os.environ.get("PYTHONPATH")])),
    )
    return env


def read_server_info(runtime_dir: Path, process: subprocess.Popen, log: Path,
                     timeout: float = 90.0) -> dict:
    """Wait for the server's ``jpserver-<pid>.json`` (port, token); fail clearly if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in runtime_dir.glob("jpserver-*.json"):
            try:
                info = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # being written
            if info.get("port"):
                return info
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"JupyterLab did not start in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_process_tree(process: subprocess.Popen, info: dict | None, timeout: float = 30.0) -> None:
    """Shut a Jupyter server down through its API (kernels too), then make sure of it."""
    try:
        family = [process.pid, *(child.pid for child in psutil.Process(process.pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        family = [process.pid]
    if info is not None and process.poll() is None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{info['port']}/api/shutdown", method="POST",
            headers={"Authorization": f"token {info['token']}"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except OSError:
            pass  # it may close the connection while shutting down
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    for pid in family:  # kernels live in their own sessions: kill them one by one
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=10)


class Lab:
    """JupyterLab serving ``root_dir`` for a test; a context manager (start, then stop)."""

    def __init__(self, root_dir: Path, workdir: Path) -> None:
        self.root_dir, self.workdir = Path(root_dir), Path(workdir)
        self.token = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        self.info: dict | None = None
        self.log = self.workdir / "jupyterlab.log"

    def start(self) -> Lab:
        for name, values in SETTINGS.items():
            path = self.workdir / "settings" / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        (self.workdir / "runtime").mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "jupyterlab", *course.lab_options(self.root_dir),
                   "--no-browser", "--ServerApp.port=0", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}",
                   "--LabApp.expose_app_in_browser=True"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.workdir,
                                            env=isolated_env(self.workdir), start_new_session=True)
        try:
            self.info = read_server_info(self.workdir / "runtime", self.process, self.log)
        except BaseException:
            self.stop()
            raise
        return self

    def url(self, path: str = "/lab", query: str = "") -> str:
        assert self.info is not None, "start() the server first"
        return f"http://127.0.0.1:{self.info['port']}{path}?{query}token={self.token}"

    def api(self, path: str, method: str = "GET"):
        """Call ``/api/<path>`` on the server; return its JSON answer (None if empty)."""
        request = urllib.request.Request(self.url(f"/api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self, timeout: float = 30.0) -> None:
        """Shut down every kernel of the server; block until their processes are gone."""
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")
        deadline = time.monotonic() + timeout
        while self.api("kernels") or any("ipykernel" in " ".join(child.cmdline())
                                         for child in self._children()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"kernels still running after {timeout:.0f} s: {self.api('kernels')}")
            time.sleep(0.2)

    def _children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except (psutil.NoSuchProcess, AttributeError):
            return []

    def stop(self) -> None:
        if self.process is not None:
            stop_process_tree(self.process, self.info)
            self.process = None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@contextmanager
def open_browser() -> Iterator:
    """A headless Chromium (Debian's package) driven by Playwright; closed on exit."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --------------------------------------------------------------------------- one notebook

CURRENT = "window.jupyterapp && jupyterapp.shell.currentWidget"

OPENED = f"""name => {{
    const panel = {CURRENT};
    return !!(panel && panel.context && panel.context.path.endsWith(name)
              && panel.context.isReady && panel.sessionContext.session
              && panel.sessionContext.session.kernel
              && panel.sessionContext.session.kernel.status === 'idle');
}}"""

# Run All, and count the kernel's replies. "Done" is not enough: after a cell meant to raise
# has raised, JupyterLab settles Run All at once and clears the [*] of the cells still queued,
# although the kernel goes on to run them (its idle moments between two cells then look like
# the end). So the run is over when every code cell has been sent (JupyterLab sends them
# all at once, skipping empty ones) and every request has had its reply.
START_RUN_ALL = f"""() => {{
    const kernel = {CURRENT}.sessionContext.session.kernel;
    const run = window.__switchyardRun = {{ran: undefined, sent: 0, pending: new Set()}};
    kernel.anyMessage.connect((_, {{msg, direction}}) => {{
        if (direction === 'send' && msg.header.msg_type === 'execute_request') {{
            run.sent += 1;
            run.pending.add(msg.header.msg_id);
        }} else if (direction === 'recv' && msg.header.msg_type === 'execute_reply') {{
            run.pending.delete(msg.parent_header.msg_id);
        }}
    }});
    jupyterapp.commands.execute('notebook:run-all-cells').then(
        done => {{ run.ran = 'done'; }},
        error => {{ run.ran = 'failed: ' + error; }});
}}"""

SETTLED = f"""() => {{
    const panel = {CURRENT};
    const run = window.__switchyardRun;
    const cells = panel.content.model.toJSON().cells
        .filter(cell => cell.cell_type === 'code' && [].concat(cell.source).join('').trim());
    if (run.ran === undefined || run.sent < cells.length || run.pending.size > 0) return false;
    if (panel.sessionContext.session.kernel.status !== 'idle') return false;
    const prompts = [...panel.node.querySelectorAll('.jp-InputPrompt')].map(p => p.textContent);
    return !prompts.some(text => text.includes('*'));
}}"""

RENDERED = f"""widgetView => {{
    const panel = {CURRENT};
    const model = panel.content.model.toJSON();
    const expected = model.cells.flatMap(cell => cell.outputs || [])
        .filter(output => output.data && widgetView in output.data).length;
    const views = panel.node.querySelectorAll('.jp-OutputArea-output > .jupyter-widgets');
    const images = [...panel.node.querySelectorAll('.jp-OutputArea-output img')];
    return views.length >= expected && images.every(i => i.complete);
}}"""

READ_PAGE = f"""failures => {{
    const panel = {CURRENT};
    // A rendered widget view is a '.jupyter-widgets' element straight inside an output.
    const views = [...panel.node.querySelectorAll('.jp-OutputArea-output > .jupyter-widgets')];
    const rendered = views.filter(view => view.getBoundingClientRect().height > 0);
    const images = [...panel.node.querySelectorAll('.jp-OutputArea-output img')];
    const text = panel.node.innerText;
    return {{
        ran: window.__switchyardRun.ran,
        model: panel.content.model.toJSON(),
        widgetsRendered: rendered.length,
        imagesShown: images.filter(i => i.complete && i.naturalWidth > 0).length,
        failureTexts: failures.filter(f => text.includes(f)),
    }};
}}"""


@dataclass
class LabRun:
    """What one Run All of a notebook in JupyterLab produced, as the model and as the page."""

    name: str
    ran: str
    notebook: nbformat.NotebookNode
    widgets_rendered: int
    images_shown: int
    failure_texts: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)

    def count_outputs(self, mimes: tuple[str, ...]) -> int:
        return sum(1 for cell in self.notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []) if set(output.get("data", {})) & set(mimes))

    def problems(self) -> list[str]:
        found = [] if self.ran == "done" else [f"Run All did not finish: {self.ran}"]
        found += unexpected_errors(self.notebook)
        code = [cell for cell in self.notebook.cells if cell.cell_type == "code"]
        not_run = [number for number, cell in enumerate(code, 1)
                   if cell.source.strip() and cell.get("execution_count") is None]
        if not_run:
            found.append(f"code cells {not_run} never ran (Run All stopped early)")
        widgets = self.count_outputs((WIDGET_VIEW,))
        if self.widgets_rendered != widgets:
            found.append(f"{widgets} widgets displayed, {self.widgets_rendered} rendered")
        if self.failure_texts:
            found.append(f"the page shows {self.failure_texts}")
        images = self.count_outputs(IMAGES)
        if self.images_shown != images:
            found.append(f"{images} plots in the outputs, {self.images_shown} shown")
        return found


def save_screenshot(page, path: Path, part_height: int = 8000) -> list[Path]:
    """The whole notebook as pictures, from the top: ``path`` if one is enough, else parts.

    The window grows to show up to ``part_height`` pixels at once; a longer notebook is
    scrolled a window at a time into ``<name>-1.png``, ``<name>-2.png``, ... Returns the files.
    """
    scroller = f"""{CURRENT}.content.node.querySelector('.jp-WindowedPanel-outer')
                   || {CURRENT}.content.node"""
    # How far down the notebook's content ends (its scrollHeight adds JupyterLab's room to
    # scroll past the end, which grows with the window).
    content = f"""() => {{
        const scroller = {scroller};
        const parts = [...scroller.children].map(child => child.getBoundingClientRect().bottom);
        return Math.ceil(Math.max(...parts) - scroller.getBoundingClientRect().top + scroller.scrollTop);
    }}"""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"],
                            "height": min(part_height, page.evaluate(content) + 200)})
    page.wait_for_timeout(300)
    height, step = page.evaluate(content), page.evaluate(f"() => ({scroller}).clientHeight")
    offsets = list(range(0, max(height - step, 0) + 1, step))
    if offsets[-1] + step < height:
        offsets.append(height - step)
    for old in [path, *path.parent.glob(f"{path.stem}-*{path.suffix}")]:
        old.unlink(missing_ok=True)  # parts of an earlier, longer run
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = []
    for number, offset in enumerate(offsets, 1):
        page.evaluate(f"top => {{ ({scroller}).scrollTop = top; }}", offset)
        page.wait_for_timeout(300)
        target = path if len(offsets) == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")
        target.write_bytes(page.screenshot())  # (path=... would start a worker thread)
        saved.append(target)
    page.set_viewport_size(size)
    return saved


def run_all(page, lab: Lab, name: str, timeout: float = 240.0, screenshot: Path | None = None) -> LabRun:
    """Open ``name`` (relative to the lab's root), Run All, wait until done, read it back.

    Every kernel of the lab is shut down afterwards, so runs do not add up.
    """
    # "reset": start from an empty workspace, not with the tabs of the previous run open.
    page.goto(lab.url(f"/lab/tree/{name}", query="reset&"))
    page.wait_for_function(OPENED, arg=name, timeout=90_000)
    page.evaluate(START_RUN_ALL)
    page.wait_for_function(SETTLED, timeout=timeout * 1000, polling=250)
    try:  # widgets and pictures attach a moment after their output arrives
        page.wait_for_function(RENDERED, arg=WIDGET_VIEW, timeout=30_000, polling=250)
    except PlaywrightTimeout:
        pass  # read what the page shows: problems() says what is missing
    facts = page.evaluate(READ_PAGE, list(WIDGET_FAILURES))
    shots = save_screenshot(page, screenshot) if screenshot is not None else []
    lab.shut_down_kernels()
    return LabRun(name=name, ran=facts["ran"], notebook=nbformat.from_dict(facts["model"]),
                  widgets_rendered=facts["widgetsRendered"],
                  images_shown=facts["imagesShown"], failure_texts=facts["failureTexts"],
                  screenshots=shots)
