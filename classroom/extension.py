"""A learner server's ``/switchyard/open``: make or update the learner's copies, open a chapter.

The nbgitpuller link pulls the course into ``~/switchyard`` and then opens
``switchyard/open?chapter=00_start_here.ipynb``: this handler runs ``helpers.workspace.sync``
on ``~/switchyard/workspace`` (copies of ``~/switchyard/notebooks``, answers' outputs cleared;
a chapter the learner edited is kept, the new version written beside it) and redirects to
the copy in JupyterLab. The copies' ``.switchyard/progress.json`` is what the instructor's
view (``course.py classroom progress``) reads. Loaded by ``classroom/jupyter/`` in the
learner's server only.
"""

from __future__ import annotations

import re
from pathlib import Path

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from helpers import workspace

TARGET = "switchyard"
CHAPTER = re.compile(r"\d\d_[a-z0-9_]+\.ipynb")


class OpenHandler(JupyterHandler):
    @web.authenticated
    def get(self) -> None:
        chapter = self.get_argument("chapter", "00_start_here.ipynb")
        if not CHAPTER.fullmatch(chapter):
            raise web.HTTPError(400, f"not a chapter: {chapter!r}")
        course = Path(self.settings["server_root_dir"]).expanduser() / TARGET
        if not (course / "notebooks").is_dir():
            raise web.HTTPError(404, "the course is not in ~/switchyard yet: follow the classroom's link")
        for notice in workspace.sync(course / "workspace", notebooks=course / "notebooks"):
            self.log.info("switchyard: %s", notice)
        self.redirect(url_path_join(self.base_url, "lab", "tree", TARGET, "workspace", chapter))


def _jupyter_server_extension_points():
    return [{"module": "classroom.extension"}]


def _load_jupyter_server_extension(serverapp) -> None:
    serverapp.web_app.add_handlers(".*$", [(url_path_join(serverapp.base_url, "switchyard", "open"), OpenHandler)])
