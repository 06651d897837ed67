"""JupyterHub's configuration for a Switchyard classroom: the instructor's file to adapt.

``python3 course.py classroom`` starts ``jupyterhub -f classroom/jupyterhub_config.py`` and
passes the figures of the moment (ports, accounts, state folder) as ``SWITCHYARD_CLASSROOM_*``
environment variables; everything else is decided here.
"""

import hmac
import json
import os
import pwd
import sys
from pathlib import Path

from jupyterhub.auth import Authenticator
from traitlets import Unicode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv"
STATE = Path(os.environ.get("SWITCHYARD_CLASSROOM_STATE", ROOT / ".classroom"))
PRIVATE = STATE / "hub"  # the hub's database, cookie secret, pid files, log: mode 0700 (run.py)
COURSE = STATE / "course" if (STATE / "course" / "helpers").is_dir() else ROOT  # HEAD's files (run.py)
sys.path.insert(0, str(ROOT))
from classroom.run import PASSWORDS, TARGET  # noqa: E402 (after the path above)
from classroom.spawner import CourseSpawner  # noqa: E402

c = get_config()  # noqa: F821 (JupyterHub provides it)

# --- where the hub listens: loopback only; put a TLS proxy (or Zero to JupyterHub) in front for a class
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("SWITCHYARD_CLASSROOM_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("SWITCHYARD_CLASSROOM_HUB_PORT", "8081"))
c.JupyterHub.db_url = f"sqlite:///{PRIVATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(PRIVATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(PRIVATE / "jupyterhub.pid")

# --- the proxy: the Python configurable-http-proxy of requirements-classroom.txt (npm's works too)
c.ConfigurableHTTPProxy.command = [str(VENV / "bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('SWITCHYARD_CLASSROOM_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(PRIVATE / "proxy.pid")

# --- who may log in. The demo: each learner's own password, made by course.py classroom and kept
# in hub/passwords.json (mode 0600, in the hub's 0700 folder); the classroom's accounts only.


class LearnerPasswordAuthenticator(Authenticator):
    """The demo login: a name logs in with that name's own password from ``password_file`` (read at each login)."""

    password_file = Unicode(config=True, help="A JSON object {learner: password}, readable by the hub only")

    async def authenticate(self, handler, data):
        name = self.normalize_username(data.get("username", ""))
        try:
            passwords = json.loads(Path(self.password_file).read_text())
        except (OSError, ValueError) as error:
            self.log.error("switchyard: cannot read the learners' passwords (%s): nobody can log in", error)
            return None
        expected = passwords.get(name) if isinstance(passwords, dict) else None
        given = data.get("password", "")
        if isinstance(expected, str) and expected and hmac.compare_digest(given.encode(), expected.encode()):
            return name
        return None


# For a real class replace the two lines below, e.g. with the system passwords of the accounts (PAM):
#     c.JupyterHub.authenticator_class = "pam"
# or your institution's login (pip install oauthenticator), e.g. GitHub:
#     c.JupyterHub.authenticator_class = "github"
#     c.GitHubOAuthenticator.oauth_callback_url = "https://hub.example.org/hub/oauth_callback"
#     c.GitHubOAuthenticator.client_id = "..."; c.GitHubOAuthenticator.client_secret = "..."
# (the learner's JupyterHub name must then be a system user: map it, or let the accounts be made for it).
c.JupyterHub.authenticator_class = LearnerPasswordAuthenticator
c.LearnerPasswordAuthenticator.password_file = str(PRIVATE / PASSWORDS)
c.Authenticator.allowed_users = set(filter(None, os.environ.get("SWITCHYARD_CLASSROOM_LEARNERS", "").split(",")))

# --- every learner's server: the course's environment, started as the learner's own system user
c.JupyterHub.spawner_class = CourseSpawner
# (the course's .venv, or a venv of the same pins when learners cannot reach .venv's interpreter: run.py)
LEARNERS_VENV = Path(os.environ.get("SWITCHYARD_CLASSROOM_VENV", VENV))
c.Spawner.cmd = [str(LEARNERS_VENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.notebook_dir = "~"          # the learner's home (0700): nobody else's files are reachable
c.Spawner.default_url = "/lab"


def learners_pythonpath(spawner) -> str:
    """``helpers`` (and ``classroom``) from the commit the learner pulled, ``~/switchyard``, the same
    commit as the notebooks beside it; before the first pull, from the commit the hub started
    with (``course/`` in the state folder). Never the instructor's working tree."""
    home = pwd.getpwnam(spawner.user.name).pw_dir
    return os.pathsep.join([str(Path(home) / TARGET), str(COURSE)])


c.Spawner.environment = {
    # the learner's server loads classroom/jupyter/ (the course's contents manager, switchyard/open)
    "JUPYTER_CONFIG_PATH": str(COURSE / "classroom" / "jupyter"),
    "PYTHONPATH": learners_pythonpath,
}
c.Spawner.start_timeout = 240         # generous: a loaded machine starting thirty servers at once
c.Spawner.http_timeout = 180

# --- bounded resources, per learner: CourseSpawner puts each learner's server (and so its kernels)
# in cgroups of its own where root may write cgroups; elsewhere the hub's log says the limits are
# not enforced (LocalProcessSpawner alone enforces nothing). A chapter's kernel peaks at
# 120-390 MB (course.py test's table, which fails a kernel over 1 GB); a learner's server and
# kernel hold about 265 MB after chapter 00. Past the memory limit, the OOM killer ends the
# learner's largest process (a kernel, which JupyterLab restarts). Kubernetes: values.yaml.
c.Spawner.mem_limit = os.environ.get("SWITCHYARD_CLASSROOM_MEM_LIMIT", "1536M")
c.Spawner.cpu_limit = float(os.environ.get("SWITCHYARD_CLASSROOM_CPU_LIMIT", "1"))

# --- stop idle servers? (pip install jupyterhub-idle-culler, then a service; not needed for the demo)
