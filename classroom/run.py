"""``python3 course.py classroom``: a real JupyterHub on this machine for a class.

    python3 course.py classroom                 start a hub for 4 learners on a port the OS picks
    python3 course.py classroom --learners 30 --port 8000
    python3 course.py classroom progress        the instructor's view: each learner's solved exercises
    python3 course.py classroom remove          remove the accounts (and their homes) the command made
    python3 course.py classroom --test          the integration test (classroom/test_classroom.py)
    python3 course.py classroom link --hub https://hub.example.org --repo https://github.com/you/switchyard
                                                the learners' link for another hub (Zero to JupyterHub)

What ``start`` does, in order (run as root: it creates system users):

1. a bare clone of the course's committed HEAD in the state folder: the repository the
   nbgitpuller link pulls from (``file://``, so it works offline); and that commit's files in
   ``course/``, where learners' servers find ``helpers`` until they have pulled their own;
2. one system user per learner (``useradd``, home 0700, no login shell, comment
   ``switchyard classroom``): learners' files are readable by their owner only;
3. JupyterHub with ``classroom/jupyterhub_config.py`` (the instructor's to adapt), its proxy
   and every learner's server (``jupyterhub-singleuser`` from the course's ``.venv``) on
   127.0.0.1;
4. prints the URL, the accounts with each learner's own password (the demo login: made with
   ``secrets`` on the first start, kept in ``hub/passwords.json``, mode 0600, and reused when the
   class restarts) and the link to hand out, and writes the same into ``classroom.json`` in the
   state folder (mode 0600). The hub's database, cookie secret, passwords and log go in ``hub/``
   there (mode 0700); learners may pass through the state folder (0711) to their homes, the
   course's clone and its files (``course/``), and their environment, and read nothing else.

Ctrl-C (or SIGTERM) stops the hub, which stops the proxy and the learners' servers. The
accounts and their work stay (a class resumes after a restart) unless ``--remove-on-exit``;
``remove`` deletes them. The state folder: ``--state DIR``, ``SWITCHYARD_CLASSROOM``, or
``.classroom/`` beside the course (git-ignored).

Standard library only: the progress view and the unit tests import it without JupyterHub.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
CONFIG = ROOT / "classroom" / "jupyterhub_config.py"
STATE_ENV = "SWITCHYARD_CLASSROOM"
MARK = "switchyard classroom"           # the comment (GECOS) of every account the command makes
TARGET = "switchyard"                   # the folder, in each learner's home, the link pulls the course into
WORKSPACE = f"{TARGET}/workspace"       # the learner's copies inside it (helpers.workspace)
FIRST_CHAPTER = "00_start_here.ipynb"
PASSWORDS = "passwords.json"             # in the hub's private folder: each learner's demo password
DEMO_NOTICE = ("demo login (a password per learner, made here; for this local demo and the tests only: "
               "README, 'A classroom on JupyterHub', shows a real authenticator: PAM or OAuth)")


def default_state() -> Path:
    return Path(os.environ.get(STATE_ENV) or ROOT / ".classroom").resolve()


def learner_names(count: int, prefix: str = "learner") -> list[str]:
    """``learner01``, ``learner02``, ... (valid system and JupyterHub names)."""
    if not 1 <= count <= 999:
        raise ValueError(f"learners: 1 to 999, not {count}")
    width = max(2, len(str(count)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, count + 1)]


def pull_link(hub_url: str, repo: str, branch: str, chapter: str = FIRST_CHAPTER) -> str:
    """The nbgitpuller link for learners: log in, pull the course into ~/switchyard, open their copy.

    ``user-redirect`` sends whoever follows the link to their own server; nbgitpuller clones
    on the first visit and merges later ones without overwriting the learner's changes; then
    ``switchyard/open`` (classroom/extension.py) makes or updates the workspace copies and
    opens the chapter.
    """
    query = urllib.parse.urlencode({
        "repo": repo, "branch": branch, "targetpath": TARGET,
        "urlpath": f"switchyard/open?chapter={chapter}",
    })
    return f"{hub_url.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def learner_passwords(names: list[str], path: Path) -> dict[str, str]:
    """Each learner's own demo password: those already in ``path`` kept, new ones made; ``path`` rewritten 0600.

    Only the accounts in ``names`` keep a password (a learner dropped from the class loses it).
    The hub's authenticator (classroom/jupyterhub_config.py) reads ``path`` at each login.
    """
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    passwords = {}
    for name in names:
        kept = known.get(name)
        passwords[name] = kept if isinstance(kept, str) and len(kept) >= 12 else secrets.token_urlsafe(12)
    write_private(path, json.dumps(passwords, indent=1) + "\n")
    return passwords


def write_private(path: Path, text: str) -> None:
    """Write ``path`` as mode 0600 from its first byte (no moment when others could open it), atomically."""
    fresh = path.with_name(path.name + ".new")
    fresh.unlink(missing_ok=True)
    with os.fdopen(os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(text)
    fresh.replace(path)


def login_lines(passwords: dict[str, str]) -> str:
    """What the instructor hands each learner: a line per account, name and password."""
    width = max(map(len, passwords), default=0)
    return "\n".join(f"    {name:<{width}}  {password}" for name, password in passwords.items())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- accounts

def account_home(name: str) -> Path | None:
    try:
        return Path(pwd.getpwnam(name).pw_dir)
    except KeyError:
        return None


def ours(name: str) -> bool:
    try:
        return pwd.getpwnam(name).pw_gecos == MARK
    except KeyError:
        return False


def make_accounts(names: list[str], homes: Path, repo: Path) -> None:
    """One system user per learner, home ``homes/NAME`` mode 0700; an existing account not ours stops it.

    Each home gets a ``.gitconfig`` trusting the course's clone (owned by root): without it git
    refuses to read it as the learner ("dubious ownership"), and nbgitpuller cannot pull.
    """
    homes.mkdir(parents=True, exist_ok=True)
    homes.chmod(0o711)  # learners pass through to their own home, cannot list the others
    for name in names:
        if account_home(name) is not None:
            if not ours(name):
                sys.exit(f"course.py classroom: a system user {name!r} exists and is not the classroom's; "
                         "choose another --prefix")
            continue
        subprocess.run(["useradd", "--create-home", "--home-dir", str(homes / name), "--user-group",
                        "--shell", "/usr/sbin/nologin", "--comment", MARK, name], check=True)
        (homes / name).chmod(0o700)
        gitconfig = homes / name / ".gitconfig"
        gitconfig.write_text(f"[safe]\n\tdirectory = {repo}\n")
        shutil.chown(gitconfig, name, name)


def processes_of(uids: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def remove_accounts(names: list[str]) -> list[str]:
    """Stop every process of the classroom's accounts, then delete them with their homes."""
    names = [name for name in names if ours(name)]
    uids = {pwd.getpwnam(name).pw_uid for name in names}
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        pids = processes_of(uids)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while pids and processes_of(uids) and time.monotonic() < deadline:
            time.sleep(0.1)
    for name in names:
        subprocess.run(["userdel", "--remove", name], check=True, stderr=subprocess.DEVNULL)
        for group in (Path("/sys/fs/cgroup") / "switchyard-classroom" / name,  # limits (classroom/spawner.py)
                      Path("/sys/fs/cgroup/cpu") / "switchyard-classroom" / name,
                      Path("/sys/fs/cgroup/memory") / "switchyard-classroom" / name):
            for folder in (group, group.parent):
                try:
                    folder.rmdir()
                except OSError:
                    pass
    return names


# --------------------------------------------------------------------------- the course's repository

def course_clone(state: Path) -> tuple[str, str]:
    """A bare clone of the course's committed HEAD, readable by learners: (file:// URL, branch).

    And ``state/course``, the same commit's files: what learners' servers import ``helpers`` and
    ``classroom`` from until their own pull (jupyterhub_config.py), never the working tree.
    """
    branch = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    if branch == "HEAD":
        branch = "main"
    repo = state / "course.git"
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", "--bare", "--no-local", "--single-branch", "--branch", branch,
                    str(ROOT), str(repo)], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(repo)], check=True)
    files = state / "course"
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=repo, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(files)], input=archive, check=True)
    subprocess.run(["chmod", "-R", "a+rX,go-w", str(files)], check=True)
    return repo.as_uri(), branch


# --------------------------------------------------------------------------- the learners' Python

def reachable_by_all(path: Path) -> bool:
    """Whether every account can run ``path``: it and each folder above it have the x bit for others."""
    try:
        path = Path(os.path.realpath(path))
        return all(part.stat().st_mode & 0o001 for part in (path, *path.parents))
    except OSError:
        return False


def learners_venv(state: Path) -> Path:
    """The environment every learner's server runs: the course's ``.venv`` when every account can run it.

    When its interpreter lies where learners cannot reach it (pyenv under a 0700 ``/root``, say),
    a venv of the same pins (requirements.txt, requirements-classroom.txt, helpers) is made in
    ``state/venv`` from a Python 3.11 every account can run, with ``.venv``'s uv (from its cache:
    seconds), and refreshed when the pins change.
    """
    if reachable_by_all(VENV / "bin" / "python") and reachable_by_all(VENV / "bin" / "jupyterhub-singleuser"):
        return VENV
    candidates = [shutil.which("python3.11"), "/usr/bin/python3.11", "/usr/local/bin/python3.11"]
    base = next((c for c in candidates if c and reachable_by_all(Path(c))), None)
    if base is None:
        sys.exit(f"course.py classroom: the course's Python ({os.path.realpath(VENV / 'bin' / 'python')}) cannot be "
                 "run by other accounts, and no python3.11 they can run was found: install one (e.g. Debian's "
                 "python3.11) or put the course's Python where every account can reach it")
    venv = state / "venv"
    python = venv / "bin" / "python"
    pins = ("requirements.txt", "requirements-classroom.txt", "pyproject.toml")
    digest = hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in pins)).hexdigest()
    stamp = venv / ".switchyard-installed"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return venv
    print(f"course.py classroom: the course's Python is not reachable by the learners' accounts; making "
          f"their environment (the same pins) in {venv} from {base}", flush=True)
    uv = [str(VENV / "bin" / "python"), "-m", "uv"]
    if not python.exists():
        subprocess.run([*uv, "venv", "--quiet", "--python", base, str(venv)], check=True)
    subprocess.run([*uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(ROOT / "requirements.txt"),
                    "-r", str(ROOT / "requirements-classroom.txt")], check=True)
    subprocess.run([*uv, "pip", "install", "--quiet", "--python", str(python), "--no-deps", "-e", str(ROOT)],
                   check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
    stamp.write_text(digest + "\n")
    return venv


# --------------------------------------------------------------------------- the hub

def wait_for_hub(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterHub exited with code {process.returncode} (see its log)")
        try:
            with urllib.request.urlopen(f"{url}hub/api/", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"JupyterHub did not answer at {url} within {timeout:.0f} s")


def start(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        sys.exit("course.py classroom: needs root. It creates a system user per learner (useradd, home 0700), "
                 "so that no learner can read another's files, and JupyterHub starts each learner's server "
                 "as that user. Run it with sudo, or in a container as root.")
    state = Path(args.state).resolve() if args.state else default_state()
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o711)
    names = learner_names(args.learners, args.prefix)
    began = time.monotonic()
    repo, branch = course_clone(state)
    venv = learners_venv(state)
    homes = state / "homes"
    make_accounts(names, homes, state / "course.git")
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}/"
    private = state / "hub"  # the hub's database, secrets, passwords, log: root only (learners pass through state/)
    private.mkdir(mode=0o700, exist_ok=True)
    private.chmod(0o700)
    passwords = learner_passwords(names, private / PASSWORDS)
    env = dict(os.environ,
               PATH=f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               SWITCHYARD_CLASSROOM_STATE=str(state),
               SWITCHYARD_CLASSROOM_VENV=str(venv),
               SWITCHYARD_CLASSROOM_PORT=str(port),
               SWITCHYARD_CLASSROOM_HUB_PORT=str(free_port()),
               SWITCHYARD_CLASSROOM_PROXY_API_PORT=str(free_port()),
               SWITCHYARD_CLASSROOM_LEARNERS=",".join(names),
               SWITCHYARD_CLASSROOM_MEM_LIMIT=args.mem_limit,
               SWITCHYARD_CLASSROOM_CPU_LIMIT=str(args.cpu_limit))
    link = pull_link(url, repo, branch)
    info = {"url": url, "link": link, "repo": repo, "branch": branch, "learners": names,
            "passwords": passwords, "homes": str(homes), "hub_pid": None}
    log = (private / "hub.log").open("ab")
    hub = subprocess.Popen([str(VENV / "bin" / "jupyterhub"), "-f", str(CONFIG)], cwd=state, env=env,
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    info["hub_pid"] = hub.pid
    stop = {"asked": False}

    def ask_stop(signum, frame):  # noqa: ARG001 (signal's signature)
        stop["asked"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    try:
        wait_for_hub(url, hub, timeout=180)
        write_private(state / "classroom.json", json.dumps(info, indent=1) + "\n")  # the passwords: 0600
        where = "" if state == default_state() else f" --state {state}"
        print(f"Switchyard classroom: JupyterHub at {url} (ready in {time.monotonic() - began:.0f} s)\n"
              f"  learners: {', '.join(names)} (system users, homes 0700 under {homes})\n"
              f"  {DEMO_NOTICE}.\n"
              f"  Give each learner their own name and password (kept, root only, in {private / PASSWORDS}):\n"
              f"{login_lines(passwords)}\n"
              f"  hand out this link: {link}\n"
              f"  instructor's view: python3 course.py classroom progress{where}\n"
              f"  log: {private / 'hub.log'}; Ctrl-C stops the hub and every learner's server", flush=True)
        while not stop["asked"] and hub.poll() is None:
            time.sleep(0.5)
    finally:
        proxy = proxy_pid(private / "proxy.pid")  # read now: the hub removes the file as it stops
        if hub.poll() is None:
            hub.terminate()  # the hub stops the learners' servers and its proxy
            try:
                hub.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(hub.pid, signal.SIGKILL)
                hub.wait(timeout=10)
        if stop_leftover_proxy(proxy):
            print("Switchyard classroom: the hub left its proxy running; stopped it", flush=True)
        log.close()
        if args.remove_on_exit:
            removed = remove_accounts(names)
            shutil.rmtree(state, ignore_errors=True)
            print(f"Switchyard classroom: stopped; removed {len(removed)} accounts and {state}", flush=True)
        else:
            print("Switchyard classroom: stopped; the accounts and their work stay "
                  "(python3 course.py classroom remove deletes them)", flush=True)
    return 0 if hub.returncode in (0, -signal.SIGTERM) or stop["asked"] else 1


PROXY = b"configurable-http-proxy"


def running_proxy(pid: int | None) -> bool:
    """Whether ``pid`` is a live (not zombie) configurable-http-proxy."""
    try:
        return pid is not None and PROXY in Path(f"/proc/{pid}/cmdline").read_bytes()  # a zombie's is empty
    except OSError:
        return False


def proxy_pid(pid_file: Path) -> int | None:
    """The hub's proxy, from the pid file the hub writes (and removes when it stops the proxy)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if running_proxy(pid) else None


def stop_leftover_proxy(pid: int | None, wait: float = 10.0) -> bool:
    """After the hub: give its proxy ``wait`` s to end, then stop it. Whether it had to be stopped.

    The proxy runs in a session of its own (JupyterHub starts it so): stopping the hub's session
    does not reach it, and a hub that was killed, or that only signals it, may leave it running.
    """
    deadline = time.monotonic() + wait
    while running_proxy(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not running_proxy(pid):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 5
        while running_proxy(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    return True


# --------------------------------------------------------------------------- the instructor's view

def progress_rows(workspaces: dict[str, Path], notebooks: Path) -> str:
    """A row per learner: exercises solved out of all, and which, from each workspace's progress.json."""
    sys.path.insert(0, str(ROOT))
    try:
        from helpers import workspace as ws
    finally:
        sys.path.remove(str(ROOT))
    numbers = [n for chapter in ws.exercises_by_chapter(notebooks).values() for n in chapter]
    width = max([7, *map(len, workspaces)])
    rows = [f"{'learner':<{width}} {'solved':>6} {'tried':>5} {'hints':>5}  solved exercises"]
    for name, folder in sorted(workspaces.items()):
        if not (folder / ws.STATE / ws.STATE_FILE).is_file():
            rows.append(f"{name:<{width}} {'-':>6} {'-':>5} {'-':>5}  (no workspace yet: has not followed the link)")
            continue
        data, note = ws.load_progress(folder)
        done = data["exercises"]
        solved = [n for n in numbers if done.get(n, {}).get("solved")]
        tried = sum(1 for n in numbers if done.get(n, {}).get("attempts"))
        hints = sum(int(done.get(n, {}).get("hints") or 0) for n in numbers)
        rows.append(f"{name:<{width}} {len(solved):>3}/{len(numbers):<2} {tried:>5} {hints:>5}  "
                    f"{' '.join(solved) or '-'}" + (f"  {note}" if note else ""))
    return "\n".join(rows)


def saved_state(args: argparse.Namespace) -> tuple[Path, dict]:
    state = Path(args.state).resolve() if args.state else default_state()
    try:
        return state, json.loads((state / "classroom.json").read_text())
    except FileNotFoundError:
        sys.exit(f"course.py classroom: no classroom at {state} (python3 course.py classroom starts one)")


def progress(args: argparse.Namespace) -> int:
    state, info = saved_state(args)
    if os.geteuid() != 0:
        sys.exit("course.py classroom progress: needs root, to read the learners' 0700 homes")
    workspaces = {name: Path(account_home(name) or Path(info["homes"]) / name) / WORKSPACE
                  for name in info["learners"]}
    print(progress_rows(workspaces, ROOT / "notebooks"))
    return 0


def remove(args: argparse.Namespace) -> int:
    state, info = saved_state(args)
    removed = remove_accounts(info["learners"])
    shutil.rmtree(state, ignore_errors=True)
    print(f"course.py classroom: removed {len(removed)} accounts with their homes, and {state}")
    return 0


def link(args: argparse.Namespace) -> int:
    if not (args.hub and args.repo):
        sys.exit("course.py classroom link: give --hub URL and --repo URL")
    print(pull_link(args.hub, args.repo, args.branch, args.chapter))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="course.py classroom", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", nargs="?", default="start", choices=("start", "progress", "remove", "link"))
    parser.add_argument("--learners", type=int, default=4, help="how many accounts (default 4)")
    parser.add_argument("--prefix", default="learner", help="account names: PREFIX01, PREFIX02, ...")
    parser.add_argument("--port", type=int, default=0, help="the hub's port on 127.0.0.1 (default: the OS picks)")
    parser.add_argument("--state", default=None, help="the classroom's folder (default .classroom/)")
    parser.add_argument("--mem-limit", default="1536M",
                        help="resident memory per learner, server and kernels together (a cgroup limit)")
    parser.add_argument("--cpu-limit", type=float, default=1.0,
                        help="CPUs per learner (a cgroup quota where root may write cgroups)")
    parser.add_argument("--remove-on-exit", action="store_true",
                        help="on stop, delete the accounts, their homes and the state folder (demo, tests)")
    parser.add_argument("--hub", help="link: the hub's public URL")
    parser.add_argument("--repo", help="link: the course's repository (git URL)")
    parser.add_argument("--branch", default="main", help="link: its branch (default main)")
    parser.add_argument("--chapter", default=FIRST_CHAPTER, help=f"link: the chapter it opens ({FIRST_CHAPTER})")
    args = parser.parse_args(argv)
    try:
        learner_names(args.learners, args.prefix)
    except ValueError as error:
        parser.error(str(error))
    return {"start": start, "progress": progress, "remove": remove, "link": link}[args.action](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
