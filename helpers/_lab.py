"""The course's JupyterLab opens a chapter unmodified (``course.py lab`` and Binder configure it).

When a notebook's kernel starts, JupyterLab writes the kernel's ``language_info`` into
the notebook's metadata and, unless it is exactly what was stored, marks the notebook
modified: ● on its tab, and closing it untouched asks whether to save. The stored
chapters hold every field JupyterLab writes (``tools.notebooks.CANONICAL_METADATA``)
except the Python version ("3.11.7"), which differs from one machine to the next. This
contents manager fills it in as a notebook is opened: the version of the Python that
serves the lab, which is the one its ``python3`` kernel runs (the same environment).
Nothing else changes; saving writes what JupyterLab shows.

``ReferenceContentsManager`` (``course.py lab --reference``) serves the stored, validated
chapters of ``notebooks/`` read-only: every file is listed as not writable (JupyterLab shows
the notebook as read-only) and the server refuses to save, create, rename or delete
anything, so no click can change the reference. Learners work in their own copies
(``helpers/workspace.py``); cells still run here, nothing is written.

Who uses it: the Jupyter server, never a notebook. ``course.py lab`` passes
``--ServerApp.contents_manager_class=helpers._lab.CourseContentsManager``; on Binder,
``binder/postBuild`` writes the same setting into the environment's
``etc/jupyter/jupyter_server_config.json`` (keeping what is there). It lives in ``helpers``
because that is the package ``pip install -e .`` makes importable wherever the server starts.
Standard library and jupyter_server only.
"""

from __future__ import annotations

import platform

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupyter_server.services.contents.manager import HTTPError  # tornado's, as the server raises it

__all__ = ["READ_ONLY", "CourseContentsManager", "ReferenceContentsManager", "with_kernel_version"]

READ_ONLY = ("These are the course's reference chapters, read-only: your own copies are in "
             "workspace/ (python3 course.py lab opens them).")


def with_kernel_version(model: dict, version: str | None = None) -> dict:
    """Add this Python's version to a notebook model's ``language_info`` if it has none (in place)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return model
    metadata = model["content"].get("metadata") or {}
    info = metadata.get("language_info")
    kernel = (metadata.get("kernelspec") or {}).get("name")
    if isinstance(info, dict) and info.get("name") == "python" and kernel == "python3" and "version" not in info:
        info["version"] = version or platform.python_version()
    return model


class CourseContentsManager(AsyncLargeFileManager):
    """Jupyter's default contents manager, plus the kernel's version in a notebook it opens."""

    async def get(self, path, content=True, type=None, format=None, require_hash=False):  # noqa: A002 (the API's names)
        model = await super().get(path, content=content, type=type, format=format, require_hash=require_hash)
        return with_kernel_version(model)


class ReferenceContentsManager(CourseContentsManager):
    """The course's contents manager, read-only: for ``course.py lab --reference``."""

    def is_writable(self, path):  # listed as read-only in every model
        return False

    def _refuse(self, *args, **kwargs):
        raise HTTPError(403, READ_ONLY)

    async def save(self, model, path=""):
        self._refuse()

    async def delete_file(self, path):
        self._refuse()

    async def rename_file(self, old_path, new_path):
        self._refuse()

    async def create_checkpoint(self, path):
        self._refuse()

    async def restore_checkpoint(self, checkpoint_id, path):
        self._refuse()
