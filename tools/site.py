"""``python3 course.py site``: the course as a static website, built from the stored outputs.

    python3 course.py site                 build into build/site/ and print where to open it
    python3 course.py site --serve         build, then serve it on 127.0.0.1 (a port the OS picks)
    python3 course.py site --hub-url URL --repo GIT-URL
                                           the JupyterHub of the "launch" buttons, and the
                                           repository its link pulls (a classroom's, printed
                                           by ``course.py classroom``)

The reference notebooks are **not executed**: every page shows the outputs stored in
``notebooks/`` (the ones the validation proves), so the build takes seconds and needs no
kernel. Nothing is fetched from outside the machine, during the build or by the pages.

Why Sphinx with myst-nb and sphinx-book-theme: they build a chapter from its stored
outputs offline in about a second, and the theme has a menu of launch buttons, search and
previous/next navigation. Jupyter Book 2 (mystmd) downloads
its theme at build time and Quarto downloads its binary at install, so neither builds
offline.

What the build changes on the way (in a copy under ``build/site-src/``; the notebooks in
``notebooks/`` are never touched):

* the navigation cells (tag ``nav``) are left out: the theme's previous/next links and the
  table of contents come from the same chapter list (``tools/chapters.py``);
* the outputs of cells that answer a prediction, a spot-the-bug or an exercise (tag
  ``answer``) are folded behind a "show the answer" toggle;
* a widget's output is shown in its stored text form (the stepper's printed frame, a progress
  bar's last text): a static page has no kernel to draw the live widget;
* the launch buttons open the learner's own copy of the chapter, never the reference (which
  shows every answer and records no progress): Binder's goes to ``workspace/NN_x.ipynb``, made
  by ``binder/postBuild``; the JupyterHub one is the classroom's own link
  (:func:`classroom.run.pull_link`: nbgitpuller pulls the course into ``~/switchyard``, then
  ``switchyard/open`` makes the copies and opens the chapter's). The theme's own hub button
  would open ``notebooks/``, so the build adds both buttons itself (:func:`launch_links`).

Run inside ``.venv`` with the pins of ``requirements-site.txt`` (``course.py site`` installs them).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib
import shutil
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import nbformat

from tools.chapters import NOTEBOOKS, written

ROOT = NOTEBOOKS.parent
SOURCE = ROOT / "build" / "site-src"
OUTPUT = ROOT / "build" / "site"

#: The one place that names the public repository: Binder's launch link, the hub's (unless
#: ``--repo`` names another, such as a classroom's ``file://`` clone), the repository button,
#: and (checked by a test) the Binder badge of the README.
REPOSITORY = "https://github.com/switchyard-course/switchyard"
BRANCH = "main"
BINDERHUB = "https://mybinder.org"
#: Where Binder's ``postBuild`` makes the learner's copies (``helpers.workspace.WORKSPACE``,
#: relative to the repository's root; a test checks they agree).
WORKSPACE = "workspace"
#: The hub of the launch buttons when ``--hub-url`` is not given: a hub on this machine's port
#: 8000, where ``python3 course.py classroom --port 8000`` starts one. Without ``--port`` the
#: classroom's port is one the OS picks: pass the URL it prints as ``--hub-url``.
DEFAULT_HUB = "http://127.0.0.1:8000"

ANSWER_TAG = "answer"
NAV_TAG = "nav"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

CONF = """\
# Written by tools/site.py for one build; edit tools/site.py instead.
project = "Switchyard"
author = "the Switchyard course"
copyright = "the Switchyard course"
extensions = ["myst_nb", "sphinx_copybutton"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_title = "Switchyard: Python coroutines, from generators to asyncio"
html_static_path = []
html_last_updated_fmt = None
nb_execution_mode = "off"
nb_ipywidgets_js = {{}}
nb_merge_streams = True
nb_code_prompt_show = "Show the answer"
nb_code_prompt_hide = "Hide the answer"
myst_heading_anchors = 3
# Not suppressed: mystnb.unknown_mime_type. An output whose only type myst-nb cannot render
# would vanish from its page without a word; with -W it stops the build instead.
suppress_warnings = ["myst.header"]
html_theme_options = {theme_options!r}

# The launch buttons of each chapter's page (tools/site.py's launch_links): the theme's own
# would open the reference notebooks, so its launch_buttons option is left empty and this
# adds the menu it would have drawn, first among the page's buttons, as the theme does.
LAUNCH_LINKS = {launch_links!r}


def add_launch_menu(app, pagename, templatename, context, doctree):
    links = LAUNCH_LINKS.get(pagename)
    if links is None or "header_buttons" not in context:
        return
    buttons = [{{"type": "link", "text": name, "tooltip": "Launch on " + name, "url": url,
                "icon": "_static/images/logo_" + name.lower() + ".svg"}} for name, url in links.items()]
    context["header_buttons"].insert(0, {{"type": "group", "tooltip": "Launch interactive content",
                                         "icon": "fas fa-rocket", "buttons": buttons,
                                         "label": "launch-buttons"}})


def setup(app):
    # after the theme's header buttons (priority 500-501), which make context["header_buttons"]
    app.connect("html-page-context", add_launch_menu, priority=502)
"""


def theme_options() -> dict:
    return {
        "repository_url": REPOSITORY,
        "repository_branch": BRANCH,
        "path_to_docs": "notebooks",
        "use_repository_button": True,
        "show_toc_level": 2,
    }


def launch_links(chapter: str, hub_url: str = DEFAULT_HUB, repo: str = REPOSITORY,
                 branch: str = BRANCH) -> dict[str, str]:
    """The launch buttons of a chapter's page (``chapter``: ``01_generators.ipynb``), by name.

    Both open the learner's own copy of that chapter. Binder: the public repository,
    ``workspace/`` (made by ``binder/postBuild``). JupyterHub: the classroom's link, pulling
    ``repo`` (the public repository, or a classroom's ``file://`` clone) at ``branch``.
    """
    owner_repo = urllib.parse.urlparse(REPOSITORY).path.strip("/")
    binder = f"{BINDERHUB}/v2/gh/{owner_repo}/{BRANCH}?urlpath=lab/tree/{WORKSPACE}/{chapter}"
    # classroom/ is not among mypy's files ([tool.mypy] in pyproject.toml): imported by name, so
    # that mypy does not follow it from here.
    classroom = importlib.import_module("classroom.run")
    return {"Binder": binder, "JupyterHub": classroom.pull_link(hub_url, repo, branch, chapter=chapter)}


def prepare(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The page's version of a chapter: navigation cells out, answers folded, widgets as text."""
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if NAV_TAG in tags:
            tags.append("remove-cell")
        if ANSWER_TAG in tags and cell.cell_type == "code" and cell.get("outputs"):
            tags.append("hide-output")
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and "text/plain" in data:
                del data[WIDGET_VIEW]
    nb.metadata.pop("widgets", None)
    return nb


def index_page() -> str:
    chapters = written()
    lines = [
        "# Switchyard: Python coroutines, from generators to asyncio",
        "",
        "Interactive notebooks that teach how Python switches between tasks, from the ground up:",
        "generators, `yield from`, greenlet, gevent, select/poll/epoll, an event loop you build",
        "yourself, asyncio, and processes, ending with a measured showdown of every model.",
        "",
        "Every page shows a chapter with the outputs stored in the course and proven by its",
        "validation. To run it yourself, use the launch button at the top of a chapter (Binder, or",
        "your class's JupyterHub), or clone the repository and run `python3 course.py lab`.",
        "",
        "| chapter | what you leave with |",
        "|---|---|",
    ]
    lines += [f"| [{c.heading}]({c.filename}) | {c.summary} |" for c in chapters]
    lines += ["", "```{toctree}", ":hidden:", ":maxdepth: 1", ""]
    lines += [c.slug for c in chapters]
    lines += ["```", ""]
    return "\n".join(lines)


def write_sources(hub_url: str, notebooks: Path, source: Path, repo: str = REPOSITORY,
                  branch: str = BRANCH) -> None:
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    links = {}
    for chapter in written():
        nb = prepare(nbformat.read(notebooks / chapter.filename, as_version=4))
        nbformat.write(nb, source / chapter.filename)
        links[chapter.slug] = launch_links(chapter.filename, hub_url, repo, branch)
    (source / "index.md").write_text(index_page())
    (source / "conf.py").write_text(CONF.format(theme_options=theme_options(), launch_links=links))


def build(hub_url: str = DEFAULT_HUB, *, repo: str = REPOSITORY, branch: str = BRANCH,
          notebooks: Path = NOTEBOOKS, source: Path = SOURCE, output: Path = OUTPUT) -> Path:
    """Build the site from the chapters in ``notebooks`` into ``output``; return its front page.

    ``hub_url``, ``repo`` and ``branch``: the JupyterHub of the launch buttons and the
    repository its link pulls. Blocks for the build (seconds); raises SystemExit with
    Sphinx's exit code if a page has a warning (a broken link, a bad cell) or the build fails.
    """
    from sphinx.cmd.build import build_main

    write_sources(hub_url, notebooks, source, repo, branch)
    shutil.rmtree(output, ignore_errors=True)
    code = build_main(["-b", "html", "-q", "-W", "--keep-going", "-d", str(source / ".doctrees"),
                       str(source), str(output)])
    if code:
        raise SystemExit(f"course.py site: the build failed (sphinx-build exit {code}, warnings above)")
    return output / "index.html"


def serve(folder: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A server of ``folder`` on 127.0.0.1 (port 0: the OS picks one), started in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, name="site-server", daemon=True).start()
    return server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 course.py site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help="serve the site on 127.0.0.1 after building it")
    parser.add_argument("--port", type=int, default=0, help="the port to serve on (default: one the OS picks)")
    parser.add_argument("--hub-url", default=DEFAULT_HUB,
                        help=f"the JupyterHub of the launch buttons (default {DEFAULT_HUB}; a classroom prints it)")
    parser.add_argument("--repo", default=REPOSITORY,
                        help="the git repository the JupyterHub link pulls into ~/switchyard (default the public "
                             "one; a local classroom's is the file:// clone it prints)")
    parser.add_argument("--branch", default=BRANCH, help=f"that repository's branch (default {BRANCH})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    front = build(args.hub_url, repo=args.repo, branch=args.branch)
    took = time.perf_counter() - started
    size = sum(p.stat().st_size for p in OUTPUT.rglob("*") if p.is_file())
    print(f"course.py site: built {len(written())} chapters into {OUTPUT.relative_to(ROOT)}/ "
          f"in {took:.1f} s ({size / 1e6:.1f} MB); open {front}")
    if args.serve:
        server = serve(OUTPUT, args.port)
        print(f"course.py site: serving on http://127.0.0.1:{server.server_port}/ (Ctrl-C stops it)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
