"""The README's lab command, started as a newcomer starts it, in a real browser.

``python3 course.py lab`` from the repository's root must serve JupyterLab on chapter
00, with the file browser on the learner's workspace (their own copies, made on first use)
and ipywidgets' JupyterLab extension enabled from the pinned package (no build step). Only
where Jupyter keeps its state (runtime, settings, workspaces) and the learner's workspace
(``SWITCHYARD_WORKSPACE``) are moved to a temporary folder, so the test neither reads nor
changes the user's home or their copies; nothing is saved into ``notebooks/``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.browser.jupyterlab import isolated_env, read_server_info, stop_process_tree
from tools.chapters import NOTEBOOKS

ROOT = NOTEBOOKS.parent


def notebooks_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", "notebooks"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.timeout(300)
def test_lab_command_opens_chapter_00_with_the_notebooks_folder_and_widgets(tmp_path, browser):
    before = notebooks_status()
    (tmp_path / "runtime").mkdir()
    workspace = tmp_path / "workspace"
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "course.py", "lab"], cwd=ROOT, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=dict(isolated_env(tmp_path), SWITCHYARD_WORKSPACE=str(workspace)))
    info = None
    try:
        info = read_server_info(tmp_path / "runtime", process, log)
        assert info["hostname"] == "127.0.0.1"
        assert info["root_dir"] == str(workspace)
        assert f"made your own copies of {len(list(NOTEBOOKS.glob('*.ipynb')))} chapters" in log.read_text()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            # The link Jupyter prints (and opens, where there is a browser to open).
            link = re.search(r"http://127\.0\.0\.1:\d+/\S*\?token=\w+", log.read_text()).group(0)
            assert link == f"http://127.0.0.1:{info['port']}/lab/tree/00_start_here.ipynb?token={info['token']}"
            page.goto(link)
            # expect(...) retries until the page shows it (JupyterLab renders in steps).
            expect(page.locator(".lm-DockPanel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")) \
                .to_have_text("00_start_here.ipynb", timeout=60_000)
            expect(page.locator(".jp-NotebookPanel .jp-MarkdownOutput h1").first) \
                .to_have_text(re.compile(r"^00 · Start here"), timeout=60_000)

            # The file browser's root is the workspace: a copy of every chapter, nothing else.
            expected = sorted(path.name for path in NOTEBOOKS.iterdir() if not path.name.startswith("."))
            assert sorted(path.name for path in workspace.iterdir() if not path.name.startswith(".")) == expected
            listing = page.locator(".jp-DirListing-itemText")
            expect(listing).to_have_count(len(expected), timeout=30_000)
            assert sorted(listing.all_inner_texts()) == expected

            config = json.loads(page.inner_text("#jupyter-config-data", timeout=10_000))
            extensions = {extension["name"] for extension in config["federated_extensions"]}
            assert "@jupyter-widgets/jupyterlab-manager" in extensions
            assert "@jupyter-widgets/jupyterlab-manager" not in config.get("disabledExtensions", [])
        finally:
            context.close()
    finally:
        stop_process_tree(process, info)
    assert process.returncode is not None
    assert notebooks_status() == before, "opening the course changed files in notebooks/"
