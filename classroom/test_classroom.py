"""The classroom's integration test: ``python3 course.py classroom --test`` (root; CI runs it).

It runs ``python3 course.py classroom`` itself (a real JupyterHub, its proxy and four learners'
servers on 127.0.0.1). Learner A's password with another learner's name gets no login; then, as
four learners at once through the hub: log in, each with their own demo password, ask for a
token, start the server, follow the nbgitpuller link (the course pulled from a ``file://`` clone
into ``~/switchyard``, the copies made in ``~/switchyard/workspace``), and run chapter 00's code
cells in the learner's kernel over the kernel's websocket, each output compared with the stored
chapter's. Then: learner A can neither read nor change learner B's workspace through B's server,
A's own server or A's kernel; a process of a learner's cannot hold more than the learner's memory
limit, and the CPU quota holds; ``course.py classroom progress`` shows who solved what; Ctrl-C
(SIGINT) stops everything, and ``--remove-on-exit`` leaves no process, account or file behind:
every process the command had running just before (its descendants, everything in their sessions,
so the proxy in its own session too, and every process of a learner's) is gone after.
Not collected by ``course.py test`` (it lives outside ``tests/``): it
needs root and the classroom's pins.
"""

from __future__ import annotations

import configparser
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import websocket

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from classroom import run, spawner  # noqa: E402

CHAPTER = "00_start_here.ipynb"
LEARNERS = 4
TIMEOUT = 300  # seconds, for each slow step: the machine may be loaded

pytestmark = [pytest.mark.timeout(1200),
              pytest.mark.skipif(os.geteuid() != 0, reason="the classroom creates system users: run as root")]


# --------------------------------------------------------------------------- a learner, over HTTP

class Learner:
    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.http = requests.Session()
        self.token = ""

    def headers(self) -> dict:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def get(self, path: str, **kwargs):
        return self.http.get(self.url + path, headers=self.headers(), timeout=TIMEOUT, **kwargs)

    def try_login(self, password: str) -> int:
        """The login form, posted: the hub's answer (302 logged in; 403 refused)."""
        self.http.get(self.url + "hub/login", timeout=TIMEOUT).raise_for_status()
        xsrf = self.http.cookies.get("_xsrf")
        answer = self.http.post(self.url + "hub/login", timeout=TIMEOUT, allow_redirects=False,
                                data={"username": self.name, "password": password, "_xsrf": xsrf})
        return answer.status_code

    def login(self, password: str) -> None:
        status = self.try_login(password)
        assert status == 302, f"{self.name}: login answered {status}"
        # Logged in, the session has a new XSRF token: the hub's pages carry it, as JupyterHub's own JS reads it.
        home = self.http.get(self.url + "hub/home", timeout=TIMEOUT)
        xsrf = re.search(r'xsrf_token: "([^"]+)"', home.text).group(1)
        answer = self.http.post(self.url + f"hub/api/users/{self.name}/tokens", timeout=TIMEOUT,
                                headers={"X-XSRFToken": xsrf}, json={"note": "classroom test"})
        assert answer.status_code == 201, answer.text
        self.token = answer.json()["token"]

    def start_server(self) -> None:
        answer = self.http.post(self.url + f"hub/api/users/{self.name}/server", headers=self.headers(),
                                timeout=TIMEOUT)
        assert answer.status_code in (201, 202), answer.text
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            server = self.get(f"hub/api/users/{self.name}").json().get("servers", {}).get("", {})
            if server.get("ready"):
                return
            time.sleep(1)
        raise AssertionError(f"{self.name}'s server did not start within {TIMEOUT} s")

    def follow_link(self, link: str, repo: str, branch: str) -> str:
        """What a browser does with the link: the page, nbgitpuller's pull (its event stream), the redirect."""
        page = self.get(link[len(self.url):])
        assert page.status_code == 200 and f"/user/{self.name}/git-pull" in page.url, (page.status_code, page.url)
        events = self.get(f"user/{self.name}/git-pull/api", stream=True,
                          params={"repo": repo, "branch": branch, "targetpath": run.TARGET})
        text = "".join(chunk for chunk in events.iter_content(chunk_size=None, decode_unicode=True))
        assert '"phase": "finished"' in text, text[-2000:]
        opened = self.get(f"user/{self.name}/switchyard/open?chapter={CHAPTER}", allow_redirects=False)
        assert opened.status_code == 302, opened.text
        return opened.headers["Location"]

    def kernel(self, path: str) -> Kernel:
        answer = self.http.post(self.url + f"user/{self.name}/api/sessions", headers=self.headers(), timeout=TIMEOUT,
                                json={"path": path, "type": "notebook", "name": "", "kernel": {"name": "python3"}})
        assert answer.status_code == 201, answer.text
        kernel_id = answer.json()["kernel"]["id"]
        ws_url = self.url.replace("http://", "ws://") + f"user/{self.name}/api/kernels/{kernel_id}/channels"
        return Kernel(websocket.create_connection(ws_url, header=[f"Authorization: token {self.token}"],
                                                  timeout=TIMEOUT))


class Kernel:
    """The smallest kernel client: execute code over the websocket, collect its outputs."""

    def __init__(self, ws) -> None:
        self.ws = ws

    def execute(self, code: str) -> list[dict]:
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "", "session": "test",
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        outputs: list[dict] = []
        idle = replied = False
        while not (idle and replied):
            message = json.loads(self.ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
            elif kind in ("execute_result", "display_data"):
                outputs.append({"output_type": kind, "data": content["data"]})
            elif kind == "error":
                outputs.append({"output_type": "error", "ename": content["ename"], "evalue": content["evalue"]})
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                replied = True
        return outputs

    def close(self) -> None:
        self.ws.close()


# --------------------------------------------------------------------------- comparing with the stored chapter

def sanitizers() -> list[tuple[re.Pattern, str]]:
    config = configparser.ConfigParser()
    config.read(ROOT / "tests" / "sanitize.cfg")
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def comparable(outputs: list[dict]) -> list[tuple[str, str]]:
    """What nbval compares: streams joined per name, text/plain, error names; sanitized."""
    rules = sanitizers()

    def clean(text: str) -> str:
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        return text

    found: list[tuple[str, str]] = []
    for output in outputs:
        kind = output["output_type"]
        if kind == "stream":
            text = "".join(output["text"]) if isinstance(output["text"], list) else output["text"]
            if found and found[-1][0] == output["name"]:
                found[-1] = (output["name"], found[-1][1] + text)
            else:
                found.append((output["name"], text))
        elif kind in ("execute_result", "display_data"):
            plain = output["data"].get("text/plain", "")
            found.append((kind, "".join(plain) if isinstance(plain, list) else plain))
        elif kind == "error":
            found.append(("error", output["ename"]))
    return [(kind, clean(text)) for kind, text in found]


def run_chapter(learner: Learner, results: dict) -> None:
    try:
        stored = json.loads((ROOT / "notebooks" / CHAPTER).read_text())
        kernel = learner.kernel(f"{run.WORKSPACE}/{CHAPTER}")
        mismatches = []
        try:
            for index, cell in enumerate(stored["cells"]):
                if cell["cell_type"] != "code":
                    continue
                source = "".join(cell["source"])
                got = comparable(kernel.execute(source))
                if "show_progress(" in source:
                    # In a workspace the cell prints this learner's table, not the stored line that
                    # says no workspace is in use (nbval runs the reference notebooks).
                    if not (len(got) == 1 and got[0][0] == "stdout" and "00_start_here" in got[0][1]):
                        mismatches.append((index, "this learner's progress table", got))
                    continue
                want = comparable(cell["outputs"])
                if got != want:
                    mismatches.append((index, want, got))
            results[learner.name] = {"mismatches": mismatches, "kernel": kernel}
        except BaseException:
            kernel.close()
            raise
    except BaseException as error:  # reported by the main thread
        results[learner.name] = {"error": repr(error)}


def kernel_a_of(results: dict, learner: Learner) -> Kernel:
    return results[learner.name]["kernel"]


def cpu_throttled(group: Path) -> int:
    for line in (group / "cpu.stat").read_text().splitlines():
        if line.startswith("nr_throttled "):
            return int(line.split()[1])
    return 0


def memory_mb(uid: int) -> tuple[float, float]:
    """One learner's resident memory (every process: server, kernel) and the largest address space, in MB."""
    resident, largest = 0, 0
    for pid in run.processes_of({uid}):
        try:
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        except (OSError, ValueError):
            continue
        resident += int(fields.get("VmRSS", "0 kB").split()[0])
        largest = max(largest, int(fields.get("VmPeak", "0 kB").split()[0]))
    return resident / 1024, largest / 1024


def processes() -> dict[int, dict]:
    """Every process now: pid -> parent, session, owner, start time (clock ticks), state, command line."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            uid = entry.stat().st_uid
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) ": state, ppid, pgrp, session, ...
        table[int(entry.name)] = {"parent": int(fields[1]), "session": int(fields[3]), "uid": uid,
                                  "start": int(fields[19]), "state": fields[0],
                                  "command": command or stat[stat.index("(") + 1:stat.rindex(")")]}
    return table


def classroom_processes(root: int, uids: set[int]) -> dict[int, dict]:
    """What ``course.py classroom`` (pid ``root``) has running: its descendants (the hub, the proxy,
    the learners' servers, their kernels and children), every process in their sessions (whoever
    their parent now is) and every process of a learner's account."""
    table = processes()
    outside = os.getsid(0)  # this test's own session: never counted in
    family = {root} | {pid for pid, p in table.items() if p["uid"] in uids}
    while True:
        sessions = {table[pid]["session"] for pid in family if pid in table} - {outside, 0}
        more = {pid for pid, p in table.items() if p["parent"] in family or p["session"] in sessions}
        if more <= family:
            return {pid: table[pid] for pid in family if pid in table}
        family |= more


def still_running(found: dict[int, dict]) -> list[str]:
    """Those of ``found`` alive now: the same pid with the same start time, not a zombie."""
    now = processes()
    return [f"{pid} {p['command'][:100]}" for pid, p in found.items()
            if pid in now and now[pid]["start"] == p["start"] and now[pid]["state"] != "Z"]


def kinds(found: dict[int, dict]) -> str:
    """A short census: how many of each program (the interpreter skipped)."""
    names: dict[str, int] = {}
    for p in found.values():
        words = p["command"].split() or ["?"]
        if "python" in Path(words[0]).name and len(words) > 1:
            words = words[1:]
        name = words[1] if words[0] == "-m" and len(words) > 1 else Path(words[0]).name
        names[name] = names.get(name, 0) + 1
    return ", ".join(f"{count} {name}" for name, count in sorted(names.items()))


# --------------------------------------------------------------------------- the test

def test_a_classroom_of_four(capsys):
    state = Path(tempfile.mkdtemp(prefix="switchyard-classroom-"))
    prefix = f"syt{os.getpid() % 100000}x"
    names = run.learner_names(LEARNERS, prefix)
    assert not any(run.account_home(name) for name in names)
    began = time.monotonic()
    command = subprocess.Popen([sys.executable, str(ROOT / "course.py"), "classroom", "--learners", str(LEARNERS),
                                "--prefix", prefix, "--state", str(state), "--remove-on-exit"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(command.stdout), daemon=True)
    reader.start()
    kernels = []
    report: list[str] = []
    info: dict = {}
    uids: dict = {}
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (state / "classroom.json").exists():
            assert command.poll() is None and time.monotonic() < deadline, "".join(output)
            time.sleep(0.5)
        info = json.loads((state / "classroom.json").read_text())
        hub_ready = time.monotonic() - began
        while not any("hand out this link" in line for line in output):  # printed just after the file
            assert command.poll() is None and time.monotonic() < deadline, "".join(output)
            time.sleep(0.2)
        learners = [Learner(info["url"], name) for name in names]
        uids = {learner.name: pwd.getpwnam(learner.name).pw_uid for learner in learners}
        passwords = info["passwords"]
        assert sorted(passwords) == names and len(set(passwords.values())) == LEARNERS, passwords.keys()
        for name, password in passwords.items():  # printed once per account, for the instructor
            assert sum(1 for line in output if line.split() == [name, password]) == 1, "".join(output)

        # The demo login: A's password with B's name (or with C's, D's) gets no login, no session.
        for other in names[1:]:
            impostor = Learner(info["url"], other)
            assert impostor.try_login(passwords[names[0]]) == 403, other
            assert impostor.http.get(info["url"] + "hub/api/user", timeout=TIMEOUT).status_code == 403
            assert impostor.http.get(info["url"] + f"user/{other}/api/contents", timeout=TIMEOUT,
                                     allow_redirects=False).status_code in (302, 403)

        # Four learners log in and start their servers at the same time.
        errors: list[BaseException] = []

        def arrive(learner: Learner) -> None:
            try:
                learner.login(passwords[learner.name])  # B's own password logs B in
                learner.start_server()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=arrive, args=(learner,)) for learner in learners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT + 60)
        assert not errors, errors
        all_running = time.monotonic() - began
        assert any("demo login" in line and "tests only" in line for line in output), "".join(output)

        # Each follows the link: the course pulled into ~/switchyard, the copies made, chapter 00 opened.
        for learner in learners:
            where = learner.follow_link(info["link"], info["repo"], info["branch"])
            assert where.endswith(f"/user/{learner.name}/lab/tree/{run.WORKSPACE}/{CHAPTER}"), where
            home = Path(pwd.getpwnam(learner.name).pw_dir)
            assert (home / run.WORKSPACE / CHAPTER).is_file()
            assert home.stat().st_mode & 0o777 == 0o700
            assert (home / run.WORKSPACE / CHAPTER).stat().st_uid == uids[learner.name]
        pulled = time.monotonic() - began

        # Chapter 00 in the four kernels at once, every output compared with the stored one.
        groups = {name: spawner.group("cpu", name) for name in names}
        groups = {name: folder for name, folder in groups.items() if folder is not None and folder.is_dir()}
        before = {name: cpu_throttled(folder) for name, folder in groups.items()}
        results: dict = {}
        threads = [threading.Thread(target=run_chapter, args=(learner, results)) for learner in learners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT + 60)
        kernels = [result["kernel"] for result in results.values() if "kernel" in result]
        chapter_throttling = {name: cpu_throttled(folder) - before[name] for name, folder in groups.items()}
        for name in names:
            assert "error" not in results.get(name, {"error": "no result"}), results.get(name)
            assert results[name]["mismatches"] == [], (results[name]["mismatches"], "CPU quota throttled",
                                                        chapter_throttling)
        ran = time.monotonic() - began
        memory = {name: memory_mb(uid) for name, uid in uids.items()}

        # Learner 1 solves exercise 00.1 (the reference solution); the others leave the stubs.
        a, b = learners[0], learners[1]
        solution = 'my_order = ["a", "b", "c", "a", "b", "c", "a", "c", "a"]\ncheck("00.1", my_order)'
        said = comparable(results[a.name]["kernel"].execute(solution))
        assert "solved" in said[0][1] and "not solved" not in said[0][1], said

        # Following the link again pulls the course's updates and keeps A's work (the recorded progress).
        assert a.follow_link(info["link"], info["repo"], info["branch"]).endswith(f"{run.WORKSPACE}/{CHAPTER}")
        home_a = Path(pwd.getpwnam(a.name).pw_dir)
        assert '"solved": true' in (home_a / run.WORKSPACE / ".switchyard" / "progress.json").read_text()

        # A's kernel imports helpers from the commit A pulled, never from the instructor's working tree.
        said = kernel_a_of(results, a).execute("import helpers; print(helpers.__file__)")
        assert said == [{"output_type": "stream", "name": "stdout",
                         "text": f"{home_a / run.TARGET / 'helpers' / '__init__.py'}\n"}], said

        # The hub's own files are root's: a learner's kernel cannot read them.
        outputs = kernel_a_of(results, a).execute(f"import os; os.listdir({str(state / 'hub')!r})")
        assert [o.get("ename") for o in outputs] == ["PermissionError"], outputs

        # Isolation: A cannot read or change B's workspace, whichever way A asks.
        home_b = Path(pwd.getpwnam(b.name).pw_dir)
        assert a.get(f"user/{b.name}/api/contents/{run.WORKSPACE}").status_code == 403      # B's server
        assert a.http.get(info["url"] + f"user/{b.name}/api/contents/{run.WORKSPACE}",
                          timeout=TIMEOUT).status_code in (302, 403)                         # A's cookie, B's server
        answer = a.http.put(info["url"] + f"user/{b.name}/api/contents/{run.WORKSPACE}/x.txt",
                            headers=a.headers(), timeout=TIMEOUT,
                            json={"type": "file", "format": "text", "content": "A was here"})
        assert answer.status_code == 403
        for path in (f"../{b.name}/{run.WORKSPACE}", f"{home_b}/{run.WORKSPACE}"):      # A's server
            answer = a.get(f"user/{a.name}/api/contents/{path}")
            assert answer.status_code in (400, 403, 404), (path, answer.status_code, answer.text[:200])
        kernel_a = results[a.name]["kernel"]                                                # A's kernel
        for code in (f"open({str(home_b / run.WORKSPACE / '.switchyard' / 'progress.json')!r}).read()",
                     f"import os; os.listdir({str(home_b)!r})",
                     f"open({str(home_b / run.WORKSPACE / 'x.txt')!r}, 'w').write('A was here')"):
            outputs = kernel_a.execute(code)
            assert [o.get("ename") for o in outputs] == ["PermissionError"], (code, outputs)
        assert not (home_b / run.WORKSPACE / "x.txt").exists()

        # Bounded memory: D's processes together may hold 1536 MB (a cgroup); a process of D's that
        # touches 2 GB is ended by the OOM killer, and D's kernel carries on.
        kernel_d = results[learners[3].name]["kernel"]
        memory_group = spawner.group("memory", learners[3].name)
        if memory_group is not None and memory_group.is_dir():
            where = kernel_d.execute("print(open('/proc/self/cgroup').read())")[0]["text"]
            assert f"/{spawner.GROUP}/{learners[3].name}\n" in where, where
            limit_file = memory_group / ("memory.max" if spawner.unified() else "memory.limit_in_bytes")
            assert int(limit_file.read_text()) == 1536 * 1024 ** 2, limit_file.read_text()
            hog = ("import subprocess, sys\n"
                   "print(subprocess.run([sys.executable, '-c', 'b = bytes(7) * (300 * 1024 ** 2)']).returncode)")
            outputs = kernel_d.execute(hog)
            assert outputs == [{"output_type": "stream", "name": "stdout", "text": "-9\n"}], outputs
            assert kernel_d.execute("print('still here')")[0]["text"] == "still here\n"
            report.append(f"memory limit enforced by {'cgroup v2' if spawner.unified() else 'cgroup v1'}: 1536 MB "
                          "per learner; a process of the learner's touching 2.1 GB was killed (-9), the kernel "
                          "carried on")
        else:
            report.append("memory limit: no writable cgroup on this machine; not enforced (the hub's log says so)")

        # Bounded CPU: D's server and kernel sit in D's cgroup with the configured quota (1 CPU); with
        # the quota lowered to 0.01 CPU from outside, a 1 s busy loop gets about 0.01 s and is throttled.
        group = spawner.group("cpu", learners[3].name)
        if group is not None and group.is_dir():
            where = kernel_d.execute("print(open('/proc/self/cgroup').read())")[0]["text"]
            assert f"/{spawner.GROUP}/{learners[3].name}\n" in where, where
            v2 = (group / "cpu.max").exists()
            quota_file = group / ("cpu.max" if v2 else "cpu.cfs_quota_us")
            assert quota_file.read_text().split()[0] == str(spawner.PERIOD), quota_file.read_text()
            throttled = cpu_throttled(group)
            quota_file.write_text(f"1000 {spawner.PERIOD}" if v2 else "1000")
            try:
                spin = ("import time\nstart, cpu = time.monotonic(), time.process_time()\n"
                        "while time.monotonic() - start < 1: pass\nprint(time.process_time() - cpu)")
                used = float(kernel_d.execute(spin)[0]["text"])
            finally:
                quota_file.write_text(f"{spawner.PERIOD} {spawner.PERIOD}" if v2 else str(spawner.PERIOD))
            assert used < 0.2 and cpu_throttled(group) > throttled, (used, throttled, cpu_throttled(group))
            report.append(f"CPU limit enforced by {'cgroup v2' if v2 else 'cgroup v1'}: quota 1 CPU per learner; "
                          f"at 0.01 CPU a 1 s busy loop got {used:.3f} s of CPU "
                          f"(throttled {cpu_throttled(group) - throttled} times)")
        else:
            report.append("CPU limit: no writable cgroup on this machine; not enforced (the hub's log says so)")

        # The instructor's view.
        table = subprocess.run([sys.executable, str(ROOT / "course.py"), "classroom", "progress",
                                "--state", str(state)], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
        assert table.returncode == 0, table.stdout + table.stderr
        rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.startswith(prefix)}
        assert set(rows) == set(names), table.stdout
        assert re.search(r"\s1/\d+\s.*\b00\.1$", rows[a.name]), rows[a.name]
        for name in names[1:]:
            assert re.search(r"\s0/\d+\s", rows[name]) and rows[name].rstrip().endswith("-"), rows[name]

        report[:0] = [f"hub answering {hub_ready:.0f} s after `course.py classroom`; four learners logged in and "
                   f"running at {all_running:.0f} s; course pulled at {pulled:.0f} s; chapter 00 run in four "
                   f"kernels at once by {ran:.0f} s",
                   "memory per learner (server + kernel, resident, after chapter 00): "
                   + ", ".join(f"{name} {mb:.0f} MB" for name, (mb, _) in memory.items()),
                   "largest address space of one learner's process (VmPeak; why no RLIMIT_AS: classroom/spawner.py): "
                   + ", ".join(f"{name} {mb:.0f} MB" for name, (_, mb) in memory.items()),
                   "times the CPU quota throttled each learner during chapter 00: "
                   f"{chapter_throttling or 'no cgroups'}",
                   "instructor's view:", table.stdout.rstrip()]
    finally:
        # Everything the command has running, collected before it is stopped (to be gone after).
        running = classroom_processes(command.pid, set(uids.values()))
        proxy = (state / "hub" / "proxy.pid").read_text().strip() if (state / "hub" / "proxy.pid").exists() else ""
        for kernel in kernels:
            kernel.close()
        if (state / "hub" / "hub.log").exists():  # kept for a failure's diagnosis (artifacts/ is git-ignored)
            (ROOT / "artifacts" / "classroom").mkdir(parents=True, exist_ok=True)
            shutil.copy(state / "hub" / "hub.log", ROOT / "artifacts" / "classroom" / "hub.log")
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGINT)  # Ctrl-C
            try:
                command.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(command.pid, signal.SIGKILL)
                command.wait(timeout=30)
        reader.join(10)
        leftovers = [name for name in names if run.account_home(name)]
        left_state = state.exists()
        left_processes = run.processes_of(set(uids.values()))
        left_running = still_running(running)
        for line in left_running:  # the command failed to stop them: do it, then fail
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        report.append(f"stopped by Ctrl-C: {len(running)} processes collected before, {len(left_running)} "
                      f"running after ({kinds(running)})")
        left_groups = [group for name in names for group in (spawner.group("cpu", name), spawner.group("memory", name))
                       if group and group.exists()]
        if leftovers:  # the command failed to clean up: do it, then fail
            run.remove_accounts(leftovers)
        shutil.rmtree(state, ignore_errors=True)
    with capsys.disabled():
        print("\n" + "\n".join(report), flush=True)
    assert command.returncode == 0, "".join(output)
    assert not leftovers, f"accounts left behind: {leftovers}"
    assert not left_state, f"{state} left behind"
    assert not left_processes, f"learners' processes left behind: {left_processes}"
    if info:  # the hub started: its proxy and itself were among the processes collected
        assert proxy.isdigit() and int(proxy) in running, (proxy, sorted(running))
        assert "configurable-http-proxy" in running[int(proxy)]["command"], running[int(proxy)]
        assert info["hub_pid"] in running
    assert not left_running, f"processes left behind: {left_running}"
    assert not left_groups, f"cgroups left behind: {left_groups}"
    assert any("removed 4 accounts" in line for line in output), "".join(output)
    assert not [pid for pid in (info.get("hub_pid"),) if pid and Path(f"/proc/{pid}").exists()]
