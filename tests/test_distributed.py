"""Grading past one machine, on the class test's submissions, each result
compared exactly with the single-machine one: a Dask scheduler and two workers
started as separate processes on 127.0.0.1, a worker killed in the middle of
grading, and a real PostgreSQL (Debian's package, on a Unix socket only) as
the course gradebook, read back as formgrader reads it. Also nbgrader's own
concurrent-writer race, reproduced on that PostgreSQL, which the course's
single writer never meets."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.course import Course
from class_builder import ASSIGNMENT, EXPECTED, collected_class, copy_course, graded_results


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is needed for the sandbox (see .ci/run)"),
]


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collected")
    return collected_class(folder / "course", probe_port=9, snoop_marker=folder / "pwned.txt")


def copy_of(collected: Course, folder: Path, db_url: str | None = None) -> Course:
    return copy_course(collected, folder, f"c.CourseDirectory.db_url = {db_url!r}" if db_url else "")


def grade(course: Course, *options: str) -> int:
    return main(["--course-dir", str(course.root), "grade", ASSIGNMENT, "--cell-timeout", "20", "--memory-gb", "4", *options])


@pytest.fixture(scope="module")
def local(collected, tmp_path_factory):
    course = copy_of(collected, tmp_path_factory.mktemp("local") / "course")
    assert grade(course, "--jobs", "2") == 1  # the unreadable file
    return graded_results(course)


def test_local_cluster_gives_the_class_its_expected_scores(local):
    assert set(local) == set(EXPECTED)
    for student, points in EXPECTED.items():
        if points is None:
            assert local[student] == "not graded"
        else:
            rows, grades = local[student]
            assert rows == 1 and sum(score or 0 for _, score in grades) == points, student


class Cluster:
    """A Dask scheduler and `workers` workers, each its own process, on 127.0.0.1."""

    def __init__(self, folder: Path, workers: int):
        self.file = folder / "scheduler.json"
        env = {**os.environ, **Course.environment(), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(self.file)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers = [
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(self.file),
                 "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"worker-{i}"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            for i in range(workers)
        ]
        from distributed import Client

        deadline = time.monotonic() + 60
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        with Client(scheduler_file=str(self.file), timeout=60) as client:
            client.wait_for_workers(workers, timeout=60)
            self.address = client.scheduler.address

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            process.kill()
            process.wait()


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(tmp_path, workers=2)
    yield running
    running.stop()


def test_a_scheduler_and_two_workers_give_the_same_scores(collected, local, cluster, tmp_path):
    course = copy_of(collected, tmp_path / "course")
    assert cluster.address.startswith("tcp://127.0.0.1:")
    assert grade(course, "--scheduler", cluster.address) == 1
    assert graded_results(course) == local


def test_a_worker_killed_mid_grading_loses_nothing(collected, local, cluster, tmp_path):
    course = copy_of(collected, tmp_path / "course")
    codes = []
    grading = threading.Thread(target=lambda: codes.append(grade(course, "--scheduler", cluster.address)))
    grading.start()
    graded = course.root / "autograded"
    while grading.is_alive() and not any(graded.glob(f"*/{ASSIGNMENT}/*.ipynb")):
        time.sleep(0.5)
    os.killpg(cluster.workers[0].pid, 9)  # the machine is gone, with its sandboxes
    grading.join(timeout=1200)
    assert codes == [1]
    assert graded_results(course) == local  # every student once, with the single-machine scores


def start_postgres() -> tuple[str, callable]:
    """A PostgreSQL server listening only on a Unix socket in a folder of its own
    (not pytest's, which the postgres user cannot enter); its URL and its stop."""
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not binaries:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does)")
    bin_dir = binaries[-1]
    folder = Path(tempfile.mkdtemp(prefix="gradebook-pg-"))
    as_postgres = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(folder, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, sockets = folder / "data", folder
    subprocess.run([*as_postgres, bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*as_postgres, bin_dir / "pg_ctl", "-D", data, "-w", "-l", folder / "server.log", "-o",
                    f"-k {sockets} -c listen_addresses=''", "start"], check=True, capture_output=True)

    def stop():
        subprocess.run([*as_postgres, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)

    return f"postgresql+psycopg2://postgres@/{{}}?host={sockets}", stop


@pytest.fixture(scope="module")
def postgres():
    url, stop = start_postgres()
    import psycopg2

    def database(name: str) -> str:
        connection = psycopg2.connect(url.format("postgres").replace("postgresql+psycopg2", "postgresql"))
        connection.autocommit = True  # CREATE DATABASE runs outside a transaction
        connection.cursor().execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return url.format(name)

    yield database
    stop()


def test_postgresql_is_the_gradebook_and_regrading_changes_nothing(collected, local, postgres, tmp_path):
    course = copy_of(collected, tmp_path / "course", db_url=postgres("course"))
    for _ in range(3):  # graded, then re-graded twice
        assert grade(course, "--jobs", "2") == 1
        assert graded_results(course) == local
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from autograder import settings

    config = settings.load(course.root)  # what formgrader loads
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    shown = {s["student"]: s["code_score"] for s in api.get_submissions(ASSIGNMENT) if s["autograded"]}
    assert shown == {s: p for s, p in EXPECTED.items() if p is not None}


def create_student_concurrently(url: str, barrier) -> str:
    from nbgrader.api import Gradebook

    barrier.wait()
    try:
        with Gradebook(url) as gb:
            gb.update_or_create_student("same-student")
        return "ok"
    except Exception as error:
        return type(error).__name__


def test_nbgraders_concurrent_writers_race_on_postgresql(postgres):
    """Plain nbgrader, 8 processes at once on a fresh gradebook: some fail (nbgrader
    issue #174). The course's grading above has one writer, and never fails."""
    context = multiprocessing.get_context("spawn")
    for attempt in range(5):
        url = postgres(f"race{attempt}")
        barrier = context.Manager().Barrier(8)
        with context.Pool(8) as pool:
            outcomes = pool.starmap(create_student_concurrently, [(url, barrier)] * 8)
        if any(o != "ok" for o in outcomes):
            break
    assert any(o != "ok" for o in outcomes), f"the race did not show in 5 tries: {outcomes}"
