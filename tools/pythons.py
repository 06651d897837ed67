"""The Python versions the validation runs the notebooks on, and where their environments live.

Standard library only: ``course.py`` imports it before anything is installed.

The course's outputs are stored with the reference version (3.11, ``.venv/``). The
notebooks must give the same outputs on every newer version the course claims to run on,
so ``python3 course.py test`` also runs them on each of :data:`OTHERS` it finds on the
machine, each in its own environment ``.venv-3.12/``, ``.venv-3.13/`` (the same pins).
``SWITCHYARD_PYTHONS`` chooses: ``3.11`` (the reference only), ``3.11,3.13``, ``all``
(the default: the reference and every other version found).

Finding an interpreter, in this order: ``pythonX.Y`` on PATH, then pyenv's versions
(``$PYENV_ROOT/versions/X.Y.*``, newest patch first), then ``/usr/local/bin`` and
``/usr/bin``. Each candidate is run once to ask its version: a pyenv shim for a
version pyenv has not selected exists on PATH but fails, and is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["ENV", "KNOWN_BAD", "OTHERS", "REFERENCE", "candidates", "find_interpreter", "label", "parse", "usable",
           "venv_dir", "venv_python", "version_of"]

REFERENCE = (3, 11)  # stored outputs are made with it; .venv/, Binder and conda use it
OTHERS = ((3, 12), (3, 13))  # run too when found on the machine
ENV = "SWITCHYARD_PYTHONS"
_BIN = "Scripts" if os.name == "nt" else "bin"


def label(version: tuple[int, int]) -> str:
    return "{}.{}".format(*version)


def parse(text: str | None) -> list[tuple[int, int]] | None:
    """The versions ``SWITCHYARD_PYTHONS`` asks for (the reference always first); None: all found.

    ``"3.12, 3.13"``, ``"3.12 3.13"`` or ``"3.11"``; ``""`` or ``"all"`` means every version found.
    ValueError for anything else, or a version older than the reference.
    """
    text = (text or "").strip().lower()
    if text in ("", "all"):
        return None
    versions: list[tuple[int, int]] = [REFERENCE]
    for part in re.split(r"[\s,]+", text):
        found = re.fullmatch(r"(\d+)\.(\d+)", part)
        if not found:
            raise ValueError(f"{ENV}: {part!r} is not a version such as 3.12 (or 'all')")
        version = (int(found.group(1)), int(found.group(2)))
        if version < REFERENCE:
            raise ValueError(f"{ENV}: the course needs Python {label(REFERENCE)} or newer, not {part}")
        if version not in versions:
            versions.append(version)
    return versions


def venv_dir(root: Path, version: tuple[int, int]) -> Path:
    """``.venv/`` for the reference version, ``.venv-X.Y/`` for the others."""
    return root / ".venv" if version == REFERENCE else root / f".venv-{label(version)}"


def venv_python(venv: Path) -> Path:
    return venv / _BIN / ("python.exe" if os.name == "nt" else "python")


def version_of(executable: str) -> tuple[int, int] | None:
    try:
        done = subprocess.run([executable, "-c", "import sys; print(*sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    parts = done.stdout.split()
    if done.returncode != 0 or len(parts) != 2 or not all(part.isdigit() for part in parts):
        return None
    return int(parts[0]), int(parts[1])


def _patch(path: Path) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.]", path.name))


def candidates(version: tuple[int, int]) -> list[str]:
    """Every place a ``pythonX.Y`` may be, most likely first (not checked yet)."""
    name = f"python{label(version)}"
    found = [shutil.which(name)]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        dirs = [d for d in pyenv.glob(f"{label(version)}.*") if re.fullmatch(r"\d+\.\d+\.\d+", d.name)]
        found += [str(d / "bin" / name) for d in sorted(dirs, key=_patch, reverse=True)]
    found += [f"/usr/local/bin/{name}", f"/usr/bin/{name}"]
    unique: list[str] = []
    for path in found:
        if path and path not in unique and os.access(path, os.X_OK):
            unique.append(path)
    return unique


# Releases the validation does not run on, and why ({"3.13.0": "reason"}). None today: 3.13.0
# was passed over until helpers.servers stopped accepting before closing a server (its asyncio
# printed from a half-made transport's __del__; see BackgroundServer._stop_accepting).
KNOWN_BAD: dict[str, str] = {}


def _full_version(executable: str) -> str | None:
    try:
        done = subprocess.run([executable, "-c", "import platform; print(platform.python_version())"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def usable(executable: str, version: tuple[int, int]) -> bool:
    """``executable`` runs Python ``version`` and is not a release of KNOWN_BAD."""
    return version_of(executable) == version and _full_version(executable) not in KNOWN_BAD


def find_interpreter(version: tuple[int, int]) -> str | None:
    """A working interpreter of ``version`` on this machine, or None (a release in KNOWN_BAD is passed over)."""
    for path in candidates(version):
        if usable(path, version):
            return path
    return None
