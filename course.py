#!/usr/bin/env python3
"""Switchyard's one entry point: set up the course's environment and run it.

    python3 course.py lab        open the course in JupyterLab: your own copies of the chapters (workspace/)
    python3 course.py lab --reference   the course's stored, validated chapters (notebooks/), read-only
    python3 course.py reset 05   a fresh copy of chapter 05 in your workspace (the old one kept as a backup)
    python3 course.py progress   your exercises, chapter by chapter: attempted, solved, hints taken
    python3 course.py test       run the whole validation (unit tests + every notebook), in parallel;
                                 the notebooks also on every Python 3.12 / 3.13 found (SWITCHYARD_PYTHONS)
    python3 course.py test 05    validate one chapter: its notebook (run twice), its exercises
    python3 course.py browser    run every chapter in real JupyterLab in Chromium, prove Binder's config
    python3 course.py site       build the course as a static website (stored outputs, no execution)
    python3 course.py classroom  a JupyterHub on this machine for a class (root; see classroom/run.py)
    python3 course.py outputs    re-run every notebook and store its outputs
    python3 course.py normalise  put every notebook's metadata in canonical form, without running it
    python3 course.py lock       re-pin requirements.txt and the environment files

Every command first makes sure ``.venv/`` (a virtual environment beside this file)
holds exactly the pinned packages of ``requirements.txt`` plus ``helpers`` in
editable mode. It is created on first use and refreshed only when the pins change,
so running a command twice is cheap and safe. ``browser`` also installs the pins of
``requirements-browser.txt`` (Playwright, repo2docker) and needs Debian's ``chromium``;
``site`` (and ``browser``, which reads the site too) installs those of ``requirements-site.txt`` (Sphinx).

Installs use uv (pinned in requirements.txt, put into ``.venv`` by pip first): it
installs the same pins as pip, several times faster, from its cache in about a second.
When uv cannot be had or fails (no wheel for the platform, an index only pip is
configured for), plain pip installs the same pins; ``SWITCHYARD_INSTALLER=pip`` forces pip.

``lab`` first makes or updates the learner's workspace (``helpers/workspace.py``, standard
library only, as is this file): on first use a copy of every chapter with the answers'
outputs cleared; after a ``git pull``, chapters the learner never edited are replaced, edited
ones are kept with the new version beside them, new chapters appear, nothing is deleted.
``SWITCHYARD_WORKSPACE`` puts the workspace in another folder. ``reset`` and ``progress``
need no environment at all.

This file uses only the standard library: it runs before anything is installed.
Conda users can skip it: ``conda env create -f environment.yml`` builds the same
environment (then run ``pip install -e .`` and the commands below by hand).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON_VERSION = (3, 11)  # the reference platform; stored outputs are made with it
STAMP = VENV / ".switchyard-installed"
PINNED_FILES = ("requirements.txt", "pyproject.toml")
BROWSER_STAMP = VENV / ".switchyard-browser-installed"
BROWSER_PINS = "requirements-browser.txt"
SITE_STAMP = VENV / ".switchyard-site-installed"
SITE_PINS = "requirements-site.txt"
CLASSROOM_STAMP = VENV / ".switchyard-classroom-installed"
CLASSROOM_PINS = "requirements-classroom.txt"  # JupyterHub, nbgitpuller, the proxy: classroom only
CHROMIUM = "/usr/bin/chromium"  # Debian's package; SWITCHYARD_CHROMIUM overrides
BIN = "Scripts" if os.name == "nt" else "bin"
CONTENTS_MANAGER = "helpers._lab.CourseContentsManager"  # also in binder/postBuild (a test proves they agree)
REFERENCE_MANAGER = "helpers._lab.ReferenceContentsManager"  # lab --reference: notebooks/, read-only
INSTALLER_ENV = "SWITCHYARD_INSTALLER"  # "pip" forces pip; otherwise uv when it can be had
PIP = ("-m", "pip", "install", "--quiet", "--disable-pip-version-check")


def venv_python() -> Path:
    return VENV / BIN / ("python.exe" if os.name == "nt" else "python")


def find_base_python() -> str:
    """Return a Python 3.11 interpreter to build the venv with, or exit with a clear message."""
    if sys.version_info[:2] == PYTHON_VERSION:
        return sys.executable
    wanted = "python{}.{}".format(*PYTHON_VERSION)
    found = shutil.which(wanted)
    if found:
        return found
    sys.exit(
        f"course.py: the course needs Python {wanted[6:]} (this is "
        f"{sys.version.split()[0]}). Install {wanted} and run this again, "
        "or use conda: conda env create -f environment.yml"
    )


def pins_digest(names: tuple[str, ...] = PINNED_FILES) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def run(cmd: Sequence[str | Path], **kwargs) -> None:
    print("+", " ".join(str(part) for part in cmd), flush=True)
    subprocess.run([str(part) for part in cmd], check=True, **kwargs)


def uv_requirement() -> str:
    """uv's pin from requirements.txt (``uv==X.Y.Z``)."""
    found = re.search(r"^uv==\S+", (ROOT / "requirements.txt").read_text(), re.M)
    return found.group(0) if found else "uv"


def get_uv(python: Path) -> list[str] | None:
    """The command that runs the pinned uv with the venv's python, installing it if needed; None: use pip."""
    if os.environ.get(INSTALLER_ENV, "").strip().lower() == "pip":
        return None
    wanted = uv_requirement()
    probe = subprocess.run([str(python), "-m", "uv", "--version"], capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.split()[1:2] != wanted.split("==")[1:2]:
        print("+", python, *PIP, wanted, flush=True)
        done = subprocess.run([str(python), *PIP, wanted], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"course.py: could not install {wanted} ({done.stderr.strip()[-300:]}); using pip", flush=True)
            return None
    return [str(python), "-m", "uv"]


def install(python: Path, requirement_files: tuple[str, ...], editable: bool, uv: list[str] | None = None) -> None:
    """Install the pins of ``requirement_files`` (and helpers, editable) into the venv: uv, else pip.

    ``uv``: the uv command to use (another venv's); by default the venv's own, installed if needed.
    """
    files = [part for name in requirement_files for part in ("-r", str(ROOT / name))]
    if uv is None:
        uv = get_uv(python)
    if uv is not None:
        try:
            run([*uv, "pip", "install", "--quiet", "--python", python, *files])
            if editable:
                run([*uv, "pip", "install", "--quiet", "--python", python, "--no-deps", "-e", ROOT])
            return
        except subprocess.CalledProcessError:
            print("course.py: uv could not install the pins; trying again with pip", flush=True)
    run([python, *PIP, *files])
    if editable:
        run([python, *PIP, "--no-deps", "-e", ROOT])


def ensure_venv() -> Path:
    """Create or refresh .venv so that it matches the pins; return its python."""
    python = venv_python()
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True,
        )
        if probe.stdout.strip() != "{}.{}".format(*PYTHON_VERSION):
            print(f"course.py: {VENV} is broken or not Python 3.11; rebuilding it", flush=True)
            shutil.rmtree(VENV)
    if not python.exists():
        run([find_base_python(), "-m", "venv", VENV])
    digest = pins_digest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return python
    install(python, ("requirements.txt",), editable=True)
    STAMP.write_text(digest + "\n")
    return python


def tools_module(name: str):
    """Import ``tools.<name>`` (standard-library-only modules) before the venv exists."""
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module(f"tools.{name}")
    finally:
        sys.path.remove(str(ROOT))


def ensure_other_venvs(python: Path) -> list[str]:
    """Build or refresh ``.venv-X.Y`` for every other Python the notebooks are validated on.

    Which: ``SWITCHYARD_PYTHONS`` (e.g. ``3.11`` for the reference only, ``3.13``), by
    default every version of ``tools.pythons.OTHERS`` found on the machine. Each gets the
    same pins as ``.venv/``, installed with ``.venv``'s uv (else pip). Returns their labels
    ("3.12", ...), for pytest's ``--pythons``. A version asked for by name but not found,
    or whose pins do not install, stops the command.
    """
    pythons = tools_module("pythons")
    try:
        asked = pythons.parse(os.environ.get(pythons.ENV))
    except ValueError as error:
        sys.exit(f"course.py: {error}")
    wanted = pythons.OTHERS if asked is None else [v for v in asked if v != PYTHON_VERSION]
    uv = get_uv(python)
    ready: list[str] = []
    for version in wanted:
        name = pythons.label(version)
        venv = pythons.venv_dir(ROOT, version)
        other = pythons.venv_python(venv)
        if not (other.exists() and pythons.usable(str(other), version)):
            base = pythons.find_interpreter(version)
            if base is None:
                if asked is not None:
                    sys.exit(f"course.py: {pythons.ENV} asks for Python {name}, and there is no working "
                             f"python{name} on PATH, under pyenv or in /usr/bin")
                passed_over = f" (releases passed over: {', '.join(pythons.KNOWN_BAD)})" if pythons.KNOWN_BAD else ""
                print(f"course.py: no usable Python {name} on this machine{passed_over}; its notebook run is skipped",
                      flush=True)
                continue
            shutil.rmtree(venv, ignore_errors=True)
            run([base, "-m", "venv", venv])
        stamp = venv / ".switchyard-installed"
        digest = pins_digest()
        if not (stamp.exists() and stamp.read_text().strip() == digest):
            try:
                install(other, ("requirements.txt",), editable=True, uv=uv)
            except subprocess.CalledProcessError:
                sys.exit(f"course.py: the pins of requirements.txt do not install on Python {name} (above); "
                         f"{pythons.ENV}={pythons.label(PYTHON_VERSION)} validates on the reference only")
            stamp.write_text(digest + "\n")
        ready.append(name)
    return ready


def ensure_site_tools(python: Path) -> None:
    """Add the website's pins (Sphinx, myst-nb, the theme) to .venv, once."""
    digest = pins_digest((*PINNED_FILES, SITE_PINS))
    if not (SITE_STAMP.exists() and SITE_STAMP.read_text().strip() == digest):
        install(python, ("requirements.txt", SITE_PINS), editable=False)
        SITE_STAMP.write_text(digest + "\n")


def ensure_browser_tools(python: Path) -> None:
    """Add the browser test's pins to .venv (once) and make sure Chromium is there."""
    ensure_site_tools(python)  # the browser tests read the website too
    digest = pins_digest((*PINNED_FILES, BROWSER_PINS))
    if not (BROWSER_STAMP.exists() and BROWSER_STAMP.read_text().strip() == digest):
        install(python, ("requirements.txt", BROWSER_PINS), editable=False)
        BROWSER_STAMP.write_text(digest + "\n")
    chromium = os.environ.get("SWITCHYARD_CHROMIUM", CHROMIUM)
    if not os.access(chromium, os.X_OK):
        sys.exit(f"course.py browser: no Chromium at {chromium}. On Debian or Ubuntu: "
                 "sudo apt-get install chromium (or set SWITCHYARD_CHROMIUM to a Chromium binary)")


def ensure_classroom_tools(python: Path) -> None:
    """Add the classroom's pins (JupyterHub, nbgitpuller, the proxy) to .venv, once: learners' servers run from it."""
    digest = pins_digest((*PINNED_FILES, CLASSROOM_PINS))
    if not (CLASSROOM_STAMP.exists() and CLASSROOM_STAMP.read_text().strip() == digest):
        install(python, ("requirements.txt", CLASSROOM_PINS), editable=False)
        CLASSROOM_STAMP.write_text(digest + "\n")


def lab_options(root_dir: Path, contents_manager: str = CONTENTS_MANAGER) -> list[str]:
    """JupyterLab's options for the course: loopback only, file browser on ``root_dir``."""
    options = [
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.default_url=/lab/tree/00_start_here.ipynb",
        # Chapters open unmodified: it adds the kernel's Python version to their metadata (the
        # one field the stored chapters leave out). Binder sets the same (binder/postBuild).
        f"--ServerApp.contents_manager_class={contents_manager}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Common in containers. Jupyter refuses root unless told; it listens on loopback only.
        options.append("--allow-root")
    return options


def in_venv(python: Path, args: list[str]) -> int:
    """Run ``python args`` from the repository root with the venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(VENV / BIN) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    env.pop("PYTHONHOME", None)
    print("+", "python", " ".join(args), flush=True)
    return subprocess.call([str(python), *args], cwd=ROOT, env=env)


def test_args(extra: list[str]) -> list[str]:
    """pytest's arguments for ``test [CHAPTER] [pytest options]``: a chapter becomes ``--chapter``.

    A chapter is a number (``5``, ``05``) or a notebook path; exit with a clear message if
    it is not one of the course's written chapters. Anything else goes to pytest unchanged.
    """
    if not extra or not (re.fullmatch(r"\d{1,2}", extra[0]) or extra[0].endswith(".ipynb")):
        return extra
    try:
        chapter = tools_module("chapters").find(extra[0])  # standard library only, like this file
    except ValueError as error:
        sys.exit(f"course.py test: {error}")
    return ["--chapter", chapter.number, *extra[1:]]


def workspace_module():
    """``helpers.workspace`` (standard library only), importable before the venv exists."""
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module("helpers.workspace")
    finally:
        sys.path.remove(str(ROOT))


def workspace_command(command: str, extra: list[str]) -> int:
    """``reset NN`` and ``progress``: the learner's workspace, no environment needed."""
    workspace = workspace_module()
    folder = workspace.default_workspace()
    if command == "progress":
        return workspace.main(["progress", str(folder)])
    if len(extra) != 1:
        sys.exit("course.py reset: name one chapter, e.g. python3 course.py reset 05")
    try:
        chapter = tools_module("chapters").find(extra[0])
    except ValueError as error:
        sys.exit(f"course.py reset: {error}")
    print("course.py:", workspace.reset(chapter.filename, folder), flush=True)
    return 0


def main(argv: list[str]) -> int:
    commands = ("lab", "test", "browser", "site", "outputs", "normalise", "lock", "reset", "progress", "classroom")
    if not argv or argv[0] not in commands:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    command, extra = argv[0], argv[1:]
    if command in ("reset", "progress"):
        return workspace_command(command, extra)
    if command == "test":
        extra = test_args(extra)  # before any install: a wrong chapter number fails at once
    root_dir, manager = ROOT / "notebooks", REFERENCE_MANAGER
    if command == "lab" and "--reference" in extra:
        extra = [arg for arg in extra if arg != "--reference"]
        print("course.py: the course's reference chapters (notebooks/), read-only", flush=True)
    elif command == "lab":
        workspace = workspace_module()
        root_dir, manager = workspace.default_workspace(), CONTENTS_MANAGER
        for notice in workspace.sync(root_dir):
            print("course.py:", notice, flush=True)
    python = ensure_venv()
    if command == "lab":
        options = lab_options(root_dir, manager)
        if "--allow-root" in options:
            print("course.py: running as root, so JupyterLab gets --allow-root", flush=True)
        return in_venv(python, ["-m", "jupyterlab", *options, *extra])
    if command == "test":
        # All options live in pyproject.toml ([tool.pytest.ini_options]), so a
        # bare `pytest` inside the venv runs exactly the same validation. Workers: two per
        # CPU; SWITCHYARD_WORKERS=N or `test -n N` changes that, `-n 0` runs in one process.
        # The notebooks run on the reference Python and on every other one found (--pythons).
        others = ensure_other_venvs(python)
        return in_venv(python, ["-m", "pytest", f"--pythons={','.join(others)}", *extra])
    if command == "browser":
        ensure_browser_tools(python)
        # One process: the browser tests share one JupyterLab and one Chromium (session fixtures).
        return in_venv(python, ["-m", "pytest", "--browser", "-n", "0", "tests/browser", *extra])
    if command == "classroom":
        ensure_classroom_tools(python)
        if "--test" in extra:  # the integration test: a hub, four learners, one chapter each (classroom/)
            extra.remove("--test")
            return in_venv(python, ["-m", "pytest", "-n", "0", "-p", "no:randomly", "classroom/test_classroom.py",
                                    *extra])
        # Ctrl-C is for classroom.run, which stops the hub and the learners' servers before it exits:
        # this process ignores it (and would otherwise kill run.py mid-cleanup).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return in_venv(python, ["-m", "classroom.run", *extra])
    if command == "site":
        ensure_site_tools(python)
        return in_venv(python, ["-m", "tools.site", *extra])
    return in_venv(python, ["-m", "tools.build", command, *extra])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
