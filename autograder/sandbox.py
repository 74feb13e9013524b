"""Student code in a box: the Jupyter kernel that runs a submission.

nbgrader executes each notebook with a Jupyter kernel. The grader points
nbgrader at the kernel spec written by ``install_kernelspec``, whose command
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
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from autograder.course import CourseError

KERNEL_NAME = "quant-course-sandbox"
LIMITS_VARIABLE = "AUTOGRADER_SANDBOX_LIMITS"
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/alternatives", "/etc/ld.so.cache")

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


@dataclass(frozen=True)
class Limits:
    memory_gb: float = 6.0
    cpu_seconds: int = 1800
    file_size_mb: int = 200
    processes: int = 256


def available() -> bool:
    return shutil.which("bwrap") is not None


def bubblewrap() -> str:
    """The bwrap program; a CourseError that says how to get it when missing."""
    found = shutil.which("bwrap")
    if not found:
        raise CourseError(
            "bubblewrap (bwrap) is not installed, so student code cannot be sandboxed. "
            "Install it (Debian/Ubuntu: sudo apt-get install bubblewrap) or pass --no-sandbox "
            "if you trust every submission."
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


def apply_limits(limits: Limits) -> None:
    memory = int(limits.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    size = limits.file_size_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


def install_kernelspec(folder: Path, limits: Limits) -> dict[str, str]:
    """Write the sandboxed kernel spec under `folder`; returns the environment
    that makes nbgrader (Jupyter) find it and pass the limits on."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "autograder.sandbox", "{connection_file}"],
                "display_name": "Python 3 (sandboxed grader)",
                "language": "python",
                # A signal would reach bubblewrap, not the kernel: interrupt
                # through the kernel's control channel instead.
                "interrupt_mode": "message",
            },
            indent=1,
        )
    )
    return {"JUPYTER_PATH": str(folder), LIMITS_VARIABLE: json.dumps(asdict(limits))}


class LimitedExecute(Execute):
    """nbgrader's Execute, keeping at most `max_output_bytes` of output per
    cell: a student's endless print loop would otherwise pile up in the
    grader's memory until the cell's time limit. (nbgrader's LimitOutput only
    trims afterwards.)"""

    max_output_bytes = Integer(2_000_000, help="output kept per cell, in bytes").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._output_bytes: dict[int, int] = {}
        return super().preprocess(nb, resources, km)

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
    limits = Limits(**json.loads(os.environ.get(LIMITS_VARIABLE, "{}")))
    sockets = os.path.dirname(os.path.abspath(connection["ip"]))
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file, *kernel_args]
    # The kernel creates its sockets, so their folder is writable.
    command = sandbox_command(kernel, os.getcwd(), readable=[connection_file], writable=[sockets])
    apply_limits(limits)
    os.execv(command[0], command)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
