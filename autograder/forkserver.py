"""Pre-imported kernels: one sandbox per grading worker, a fresh kernel forked
from it for each notebook.

Every notebook of an assignment starts a kernel and imports the same
libraries (torch, transformers, bitsandbytes: 6 to 9 s of CPU here), whoever
the student is. A grading worker pays that once: it starts one *fork server*
inside the sandbox (``sandbox.sandbox_command``: no network, none of the
course's files), which imports those libraries and then, for each kernel a
notebook needs, forks a new process from that pristine state. Nothing of one
student reaches the next:

- each kernel is a new child of the server, which never runs student code;
- after each notebook the server kills every other process in the sandbox and
  wipes ``/tmp`` and the kernels' working folder (``reset``);
- the server's control socket is an inherited file descriptor, not a path a
  kernel could find, and the server cannot be traced or read
  (``PR_SET_DUMPABLE`` 0); a kernel that kills the server only costs the next
  notebook a new one.

``SandboxedExecute`` uses it when its ``fork_server`` setting is on (the grade
command's workers turn it on); jupyter_client drives a forked kernel through
``ForkProvisioner``, a kernel provisioner (registered as an entry point).
"""

from __future__ import annotations

import atexit
import ctypes
import importlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

from jupyter_client.provisioning import LocalProvisioner

from autograder.sandbox import LIMITS_VARIABLE, PRELOAD_VARIABLE, apply_limits, sandbox_command

PR_SET_DUMPABLE = 4


# Inside the sandbox ----------------------------------------------------------

def serve(control: int, workdir: str, preload: list[str]) -> None:
    """The fork server: import `preload`, then answer requests on socket `control`."""
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:  # a library this course does not install: kernels import it themselves
            pass
    server = Server(control, workdir)
    server.reset()  # what the imports left in /tmp (caches already read into memory)
    channel = socket.socket(fileno=control).makefile("rwb")
    for line in channel:
        request = json.loads(line)
        try:
            reply = getattr(server, request.pop("op"))(**request)
        except Exception as error:
            reply = {"error": repr(error)}
        channel.write(json.dumps(reply).encode() + b"\n")
        channel.flush()


class Server:
    def __init__(self, control: int, workdir: str):
        self.control, self.workdir = control, workdir
        self.exited: dict[int, int] = {}

    def start(self, connection: dict, arguments: list[str], limits: dict) -> dict:
        pid = os.fork()
        if pid == 0:  # the kernel: a fresh child of the pristine server
            try:
                self._become_kernel(connection, arguments, limits)
            finally:
                os._exit(1)
        return {"pid": pid}

    def _become_kernel(self, connection: dict, arguments: list[str], limits: dict) -> None:
        os.setsid()
        os.close(self.control)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the kernel's console banner; its outputs go over ZeroMQ
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        os.chdir(self.workdir)
        path = f"/tmp/kernel-{os.getpid()}.json"
        with open(path, "w") as f:
            json.dump(connection, f)
        apply_limits(limits)
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(["-f", path, *arguments])
        app.start()
        os._exit(0)

    def poll(self, pid: int) -> dict:
        if pid not in self.exited:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                self.exited[pid] = os.waitstatus_to_exitcode(status)
        return {"returncode": self.exited.get(pid)}

    def signal(self, pid: int, signum: int) -> dict:
        try:
            os.killpg(pid, signum)  # the kernel and whatever it started
        except ProcessLookupError:
            pass
        return {}

    def reset(self) -> dict:
        """Kill every process but the sandbox's init and this one; empty /tmp and the working folder."""
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, os.getpid()):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        while True:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self.exited.setdefault(pid, -signal.SIGKILL)
        keep = mount_points()
        for folder in ("/tmp", self.workdir):
            empty(folder, keep)
        return {}


def mount_points() -> set[str]:
    """The mount points of this process: the fifth field of /proc/self/mountinfo, where a space,
    tab, newline or backslash in a path is written as a three-digit octal escape."""
    with open("/proc/self/mountinfo") as mountinfo:
        return {re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4]) for line in mountinfo}


def empty(folder: str, keep: set[str]) -> None:
    """Remove everything inside `folder` but the mount points in `keep` and the folders on the way
    to them: the sandbox binds read-only what lives under /tmp on the host (a course or a virtual
    environment there), and those must survive while the notebook's files go."""
    for entry in os.scandir(folder):
        if entry.path in keep:
            continue
        if any(point.startswith(entry.path + "/") for point in keep):
            empty(entry.path, keep)
        elif entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


# In the grading worker -------------------------------------------------------

class ForkServer:
    """The worker's fork server: its sandboxed process and its control socket."""

    def __init__(self, preload: list[str]):
        self.preload = preload
        # Not under /tmp, which the server empties: inside the sandbox these folders are mounted there.
        self.folder = tempfile.mkdtemp(prefix="fork-server-", dir="/var/tmp")
        self.workdir = os.path.join(self.folder, "run")  # the kernels' working folder
        self.sockets = os.path.join(self.folder, "sockets")  # the kernels' ZeroMQ sockets
        os.makedirs(self.workdir)
        os.makedirs(self.sockets)
        self.process = None
        self.start()

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        package = os.path.dirname(os.path.abspath(__file__))  # this package (alone: not the course around it)
        command = sandbox_command(
            [sys.executable, "-m", "autograder.forkserver", str(theirs.fileno()), self.workdir, *self.preload],
            self.workdir, readable=[package], writable=[self.sockets],
        )
        # What the libraries print while loading (e.g. fontconfig's complaints) is kept for diagnosis.
        with open(os.path.join(self.folder, "server.log"), "ab") as log:
            self.process = subprocess.Popen(command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=log)
        theirs.close()
        self.channel = ours.makefile("rwb")

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, op: str, **arguments) -> dict:
        try:
            self.channel.write(json.dumps({"op": op, **arguments}).encode() + b"\n")
            self.channel.flush()
            line = self.channel.readline()
        except OSError:
            line = b""
        if not line:  # a kernel killed the server: end its sandbox, and every process in it
            self.process.kill()
            self.process.wait()
            raise RuntimeError("the fork server stopped (a kernel may have killed it)")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"fork server: {reply['error']}")
        return reply

    def reset(self) -> None:
        """Kill every process in the sandbox but the server; empty /tmp and the working folder."""
        try:
            self.request("reset")
        except RuntimeError:
            pass  # the server is gone, and with it everything the notebook started

    def stop(self) -> None:
        if self.process and self.alive():
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_SERVER: ForkServer | None = None


def fork_server(preload: list[str]) -> ForkServer:
    """This worker's fork server, started on first use and after it died."""
    global _SERVER
    if _SERVER is None or _SERVER.preload != preload:
        if _SERVER is not None:
            _SERVER.stop()
        _SERVER = ForkServer(preload)
        atexit.register(_SERVER.stop)
    elif not _SERVER.alive():
        _SERVER.start()
    return _SERVER


class ForkedKernel:
    """A kernel forked by the fork server, as jupyter_client's launcher's Popen."""

    stdin = stdout = stderr = None

    def __init__(self, server: ForkServer, pid: int):
        self.server, self.pid = server, pid

    def poll(self) -> int | None:
        try:
            return self.server.request("poll", pid=self.pid)["returncode"]
        except RuntimeError:  # the server is gone, and its kernels with it
            return -signal.SIGKILL

    def wait(self, timeout: float | None = None) -> int:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.05)
        return code

    def send_signal(self, signum: int) -> None:
        try:
            self.server.request("signal", pid=self.pid, signum=signum)
        except RuntimeError:
            pass  # the server is gone, and its kernels with it

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, with the kernel forked by this worker's
    fork server instead of started as a new program."""

    async def launch_kernel(self, cmd: list[str], **kwargs) -> dict:
        spec = self.kernel_spec
        server = fork_server(json.loads(spec.env[PRELOAD_VARIABLE]))
        with open(self.parent.connection_file) as f:
            connection = json.load(f)
        arguments = cmd[cmd.index(self.parent.connection_file) + 1:]
        limits = json.loads(spec.env[LIMITS_VARIABLE])
        pid = server.request("start", connection=connection, arguments=arguments, limits=limits)["pid"]
        self.process = ForkedKernel(server, pid)
        self.pid, self.pgid = pid, None
        return self.connection_info


if __name__ == "__main__":
    control, workdir, *preload = sys.argv[1:]
    serve(int(control), workdir, preload)
