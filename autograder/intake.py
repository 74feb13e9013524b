"""Collecting submissions: an LMS download (a folder, a zip or a tar) into
nbgrader's ``submitted/<student>/<assignment>/<notebook>.ipynb``.

What a file is comes from its content, not its extension: a notebook is
JSON with ``cells`` and ``nbformat`` (``memory_math.ipynb.txt`` is one); a
file named ``.ipynb`` is taken as a notebook even when damaged, so that
grading reports it instead of losing it; zip, tar and gzip files a student
uploaded are opened in memory and their files examined in turn. Files that
are not submissions (LMS receipts, operating-system and archive metadata,
editor leftovers) are listed as ignored.

Which notebook: the release notebook whose name ends the file's name once
the renames of Colab, browsers and LMSs are undone ("Copy of ...",
"... (1)", "...-1"), or else the one its grading metadata points to.

Who: the first naming rule that matches the file's path inside the download
(the course's own ``student_patterns``, then the built-in Blackboard, Canvas
and Moodle rules); else what remains of the file's name once the notebook's
name is taken out (``jane_doe_memory_math.ipynb`` is ``jane_doe``'s); else
its top folder. The id an LMS gives a person is part of the student id, so
two people with one name stay two students.

Which file, when a student has several for one notebook: the latest, by the
LMS's attempt time in the name, else the date the download stored with the
file. A later file under another spelling of the same student id is a
conflict, which the instructor must look at. Where the name carries the LMS's
submission time, it is written to nbgrader's ``timestamp.txt`` beside the
notebook, so nbgrader's late penalties apply (nbgrader reads it as UTC, like
the due date).

The download is never modified, and nothing in it is extracted: names from
the download become paths only as sanitised student ids. Every file is
accounted for in the returned log.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import re
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO

# Built-in naming rules, searched in the path inside the download after the
# course's own. Groups: `student` (required), `id` (the LMS's id for the
# person, part of the student id) and `attempt` (the LMS's submission time:
# year, month, day, hour, minute, second).
DEFAULT_STUDENT_PATTERNS = [
    # Blackboard: <assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>
    r"(?:^|/)(?:[^/]*_)?(?P<student>[^/_]+)_attempt_(?P<attempt>\d{4}(?:-\d\d){5})",
    # Canvas: <name>_[LATE_]<user id>_<submission id>_<file>
    r"(?:^|/)(?P<student>[^/_]+)_(?:LATE_)?(?P<id>\d+)_\d+_",
    # Moodle: <full name>_<participant id>_assignsubmission_file_<file>, or a folder of that name
    r"(?:^|/)(?P<student>[^/]+?)_(?P<id>\d+)_assignsubmission_[a-z]+(?:_|/)",
]

# Files that are nobody's submission, by their path inside the download.
NOT_SUBMISSIONS = [
    (re.compile(r"(?:^|/)(?:__MACOSX|\.[^/]*)(?:/|$)"),
     "not a submission: archive or system metadata such as __MACOSX/, .DS_Store, ._*, .ipynb_checkpoints/"),
    (re.compile(r"(?:^|/)(?:thumbs\.db|desktop\.ini)$", re.I), "not a submission: operating-system metadata"),
    (re.compile(r"(?:^|/)~\$[^/]*$|~$"), "not a submission: an editor's leftover"),
    (re.compile(r"(?:^|/)[^/]*_attempt_\d{4}(?:-\d\d){5}\.txt$"), "not a submission: a Blackboard receipt"),
    (re.compile(r"^index\.html?$", re.I), "not a submission: the LMS's index page"),
]

# A notebook's name as renamed by Colab or Google Drive ("Copy of x"),
# browsers ("x (1)"), Canvas resubmissions ("x-1"), file managers ("x copy 2",
# "x - Copy"), and saved with extensions that hide the notebook. The number
# of a copy tells the later of two files stored at the same time.
RENAMED_NOTEBOOK = (r"(?P<rest>.*?)(?:copy[ _]of[ _]+)*{name}"
                    r"(?P<copy>(?:\s*\(\d+\)|-\d+|(?:\s+-)?\s+copy(?:\s+\d+)?)*)")
NOTEBOOK_SUFFIXES = re.compile(r"(?:\.(?:ipynb|json|txt|gz))+$", re.I)
ARCHIVE_SUFFIX = re.compile(r"\.(?:zip|tgz|tar(?:\.(?:gz|bz2|xz))?|gz)$", re.I)

# Limits against zip bombs: no submission is this large, and archives
# inside archives stop here.
MAX_FILE_BYTES = 256 * 2**20
MAX_TOTAL_BYTES = 4 * 2**30
MAX_NESTING = 3
READ_ERRORS = (OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, tarfile.TarError,
               zlib.error, lzma.LZMAError)


@dataclass
class Intake:
    """What became of one file of the download: a row of collect's table and log.

    status: "placed" (copied to `destination`), "superseded" (the same
    student has a later file for that notebook), "conflict" (a file under
    another spelling of the same student id won; not placed), "not placed"
    (`reason` says why), "ignored" (not a submission) or "unpacked" (an
    archive; its files follow it in the log).
    """

    file: str  # the path inside the download
    original: str  # the download's path and `file`
    status: str = "not placed"
    kind: str = ""  # by content: "notebook", "archive" or "other"
    student: str = ""
    assignment: str = ""
    destination: str = ""
    reason: str = ""


@dataclass
class Upload:
    """A file in the download: where it is, when it was stored, how to read it."""

    path: str  # inside the download, "/"-separated; an archive inside is a folder
    stamp: datetime | None  # the date the archive stored, or the file's modification time
    size: int  # bytes, as the archive declares them
    open: Callable[[], IO[bytes]]


@dataclass
class Claim:
    """A notebook file that claims a (student, assignment, notebook) place."""

    entry: Intake
    when: datetime | None
    basis: str  # where `when` comes from, for the log
    spelled: str  # the student as the download spells them
    copy: int  # "x (2)" is 2, "x-1" is 1, "x" is 0
    submitted: datetime | None = None  # the LMS's own submission time, when the name says it


def student_id(*parts: str | None) -> str:
    """A student id from a name and the LMS's id for the person: letters of
    any script, digits, ``_.-`` (safe in nbgrader ids and folder names), in
    lower case; other characters become ``_``. Empty when nothing is left."""
    words = []
    for part in parts:
        text = unicodedata.normalize("NFKC", part or "").casefold()
        # Marks (accents, vowel signs) stay: dropping them would merge names.
        kept = "".join(c if c.isalnum() or c in "._-" or unicodedata.category(c)[0] == "M" else " " for c in text)
        words.append("_".join(kept.split()).strip("._-"))
    return "_".join(w for w in words if w)


def attempt_time(text: str | None) -> datetime | None:
    """The LMS's submission time from the six numbers of an `attempt` group."""
    try:
        return datetime(*(int(n) for n in re.findall(r"\d+", text or "")[:6]))
    except (TypeError, ValueError):
        return None


def notebook_json(data: bytes) -> dict | None:
    """The notebook `data` holds (JSON with cells and nbformat), or None."""
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        return None
    return nb if isinstance(nb, dict) and "cells" in nb and "nbformat" in nb else None


def ignorable(path: str) -> str:
    """Why the file at `path` is nobody's submission, or ""."""
    return next((reason for pattern, reason in NOT_SUBMISSIONS if pattern.search(path)), "")


def unsafe(path: str) -> bool:
    """An archive name that would escape a folder if it were extracted:
    absolute, with a drive letter, or going up."""
    return any(part in ("", "..") or re.fullmatch(r"[A-Za-z]:", part) for part in path.split("/"))


def folder_uploads(folder: Path) -> Iterator[Upload]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            status = path.stat()
            yield Upload(path.relative_to(folder).as_posix(), local_time(status.st_mtime), status.st_size,
                         partial(path.open, "rb"))


def zip_uploads(archive: zipfile.ZipFile, base: str) -> Iterator[Upload]:
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = info.filename
        if not info.flag_bits & 0x800:  # no UTF-8 flag: read as cp437, but macOS and others wrote UTF-8
            try:
                name = name.encode("cp437").decode("utf-8")
            except UnicodeError:
                pass
        try:
            stamp = datetime(*info.date_time)
        except ValueError:
            stamp = None
        yield Upload(join(base, name.replace("\\", "/")), stamp, info.file_size, partial(archive.open, info))


def tar_uploads(archive: tarfile.TarFile, base: str) -> Iterator[Upload]:
    # Links and devices are skipped: never followed, never extracted.
    for member in archive:  # in stream order: a compressed tar is read once
        if member.isfile():
            yield Upload(join(base, member.name), local_time(member.mtime), member.size,
                         partial(archive.extractfile, member))


def local_time(seconds: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(seconds)
    except (OverflowError, OSError, ValueError):  # a date no clock can show
        return None


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


class Collector:
    """Places one download's notebooks into ``submitted/`` (see the module)."""

    def __init__(self, course_root: Path, patterns: list[str] | None = None):
        self.root = course_root
        self.rules = [re.compile(p) for p in [*(patterns or []), *DEFAULT_STUDENT_PATTERNS]]
        releases = sorted((course_root / "release").glob("*/*.ipynb"))
        self.assignments = {path.parent.name.casefold() for path in releases}
        # A notebook name -> the (assignment, file name) places it may go;
        # longest names first, so "memory_math" is tried before "math".
        places: dict[str, list[tuple[str, str]]] = {}
        self.grade_ids: dict[str, tuple[str, str]] = {}
        for path in releases:
            places.setdefault(path.stem.casefold(), []).append((path.parent.name, path.name))
            for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid:
                    self.grade_ids[gid] = (path.parent.name, path.name)
        self.names = [
            (re.compile(RENAMED_NOTEBOOK.format(name=re.escape(stem).replace("_", "[ _]")), re.I), targets)
            for stem, targets in sorted(places.items(), key=lambda item: -len(item[0]))
        ]

    # -- the whole download ---------------------------------------------------

    def collect(self, download: Path) -> list[Intake]:
        """Place the notebooks of `download`; the log of every file, also
        written to ``downloaded/collect_log.json``."""
        self.download = download
        self.budget = MAX_TOTAL_BYTES
        self.claims: dict[tuple[str, str, str], list[Claim]] = {}
        log: list[Intake] = []
        with ExitStack() as stack:
            try:
                for upload in self.uploads(download, stack):
                    log += self.examine(upload, 0)
            except READ_ERRORS as error:
                raise ValueError(f"{download} is a damaged archive: {error}") from None
        self.settle()
        (self.root / "downloaded").mkdir(exist_ok=True)
        (self.root / "downloaded" / "collect_log.json").write_text(
            json.dumps([e.__dict__ for e in log], indent=1, ensure_ascii=False), encoding="utf-8")
        return log

    @staticmethod
    def uploads(download: Path, stack: ExitStack) -> Iterator[Upload]:
        if download.is_dir():
            return folder_uploads(download)
        if zipfile.is_zipfile(download):
            return zip_uploads(stack.enter_context(zipfile.ZipFile(download)), "")
        if download.is_file() and tarfile.is_tarfile(download):
            return tar_uploads(stack.enter_context(tarfile.open(download)), "")
        raise ValueError(f"{download} is neither a folder nor an archive (zip, tar, tar.gz)")

    # -- one file -------------------------------------------------------------

    def examine(self, upload: Upload, depth: int) -> list[Intake]:
        """The log rows of `upload`: its own, then those of the files in it
        when it is an archive. A notebook is claimed for its student."""
        entry = Intake(file=upload.path, original=f"{self.download}/{upload.path}")
        if unsafe(upload.path):
            entry.reason = "a name that points outside the archive, as in a path traversal attack: not read"
            return [entry]
        entry.reason = ignorable(upload.path)
        if entry.reason:
            entry.status = "ignored"
            return [entry]
        try:
            data = self.read(upload)
            if data[:2] == b"\x1f\x8b":  # gzip: examine what it holds (a tar, or one file such as x.ipynb.gz)
                data = self.read(Upload(upload.path, upload.stamp, 0, partial(gzip.GzipFile, fileobj=io.BytesIO(data))))
            archive = open_archive(data)
        except ValueError as refusal:
            entry.reason = str(refusal)
            return [entry]
        if archive is not None:
            return self.unpack(entry, archive, upload, depth)
        nb = notebook_json(data)
        if nb is None and not upload.path.lower().endswith(".ipynb"):
            entry.kind, entry.reason = "other", "not a notebook: its content is not notebook JSON"
            return [entry]
        entry.kind = "notebook"
        self.claim(entry, upload, data, nb)
        return [entry]

    def read(self, upload: Upload) -> bytes:
        """The file's bytes, within the limits; ValueError says which it passed."""
        if upload.size > MAX_FILE_BYTES:
            raise ValueError(f"{mib(upload.size)} unpacked, more than the {mib(MAX_FILE_BYTES)} a submission may "
                             "have, as in a zip bomb: not read")
        if upload.size > self.budget:
            raise ValueError(f"the download unpacks to more than {mib(MAX_TOTAL_BYTES)} in all: not read")
        try:
            with upload.open() as f:
                data = f.read(min(MAX_FILE_BYTES, self.budget) + 1)
        except READ_ERRORS as error:
            raise ValueError(f"cannot be read: {error}") from None
        if len(data) > min(MAX_FILE_BYTES, self.budget):  # more than the archive declared
            raise ValueError(f"unpacks to more than {mib(min(MAX_FILE_BYTES, self.budget))}, as in a zip bomb: not read")
        self.budget -= len(data)
        return data

    def unpack(self, entry: Intake, archive: zipfile.ZipFile | tarfile.TarFile, upload: Upload, depth: int) -> list[Intake]:
        """The rows of an archive a student uploaded, and of the files in it.
        Its other files are ignored when it holds a notebook; an archive
        without one is not placed, and its files are not listed (a .docx is
        a zip) except those refused."""
        entry.kind = "archive"
        if depth >= MAX_NESTING:
            entry.reason = f"an archive inside {MAX_NESTING} archives, as in a zip bomb: not opened"
            return [entry]
        rows = []
        with archive:
            members = zip_uploads if isinstance(archive, zipfile.ZipFile) else tar_uploads
            try:
                for member in members(archive, upload.path):
                    rows += self.examine(member, depth + 1)
            except READ_ERRORS as error:
                entry.reason = f"a damaged archive: {error}"
                return [entry, *rows]
        if not any(row.kind == "notebook" for row in rows):
            entry.reason = "an archive with no notebook in it"
            return [entry, *(row for row in rows if row.kind != "other" and row.status != "ignored")]
        entry.status = "unpacked"
        for row in rows:
            if row.kind == "other":
                row.status, row.reason = "ignored", "not a notebook, in an archive that holds one"
        return [entry, *rows]

    # -- whose, which notebook, which file wins --------------------------------

    def notebook_of(self, name: str, nb: dict | None) -> tuple[tuple[str, str] | None, str | None, int]:
        """The (assignment, notebook file) that `name` is a copy of, what the
        name holds besides the notebook's (None when it does not hold it:
        then the grading metadata of `nb` tells the notebook), and the copy's number."""
        stem = NOTEBOOK_SUFFIXES.sub("", name)
        for pattern, targets in self.names:
            m = pattern.fullmatch(stem)
            if m:
                target = targets[0] if len(targets) == 1 else self.voted(nb, targets)
                return target, m.group("rest"), max(map(int, re.findall(r"\d+", m.group("copy"))), default=0)
        return self.voted(nb, list(self.grade_ids.values())), None, 0

    def voted(self, nb: dict | None, targets: list[tuple[str, str]]) -> tuple[str, str] | None:
        """The target whose grade ids most of `nb`'s cells carry."""
        votes: dict[tuple[str, str], int] = {}
        for cell in (nb or {}).get("cells", []):
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") if isinstance(cell, dict) else None
            if self.grade_ids.get(gid) in targets:
                votes[self.grade_ids[gid]] = votes.get(self.grade_ids[gid], 0) + 1
        return max(votes, key=votes.get) if votes else None

    def student_of(self, path: str, rest: str | None) -> tuple[str, str, datetime | None] | None:
        """(student id, the student as the download spells them, the LMS's
        attempt time) of the file at `path`; `rest` is what its name holds
        besides the notebook's name."""
        for rule in self.rules:
            m = rule.search(path)
            groups = m.groupdict() if m else {}
            student = student_id(groups.get("student"), groups.get("id"))
            if student:
                spelled = groups["student"] + (f", id {groups['id']}" if groups.get("id") else "")
                return student, spelled, attempt_time(groups.get("attempt"))
        if rest and student_id(rest):
            return student_id(rest), rest.strip(" _-."), None
        folders = [f for f in path.split("/")[:-1] if f.casefold() not in self.assignments]
        if folders:  # "jane_doe/", "jane_doe.zip/", "jane_doe_memory_math.zip/"
            name = ARCHIVE_SUFFIX.sub("", folders[0])
            rest = self.notebook_of(name, None)[1]
            name = name if rest is None else rest
            if student_id(name):
                # Spelled as the whole folder path: files from "all/jane/" and "all/tom/" are a conflict, not one student.
                return student_id(name), path.rsplit("/", 1)[0], None
        return None

    def claim(self, entry: Intake, upload: Upload, data: bytes, nb: dict | None) -> None:
        """Claim the notebook's place for its student; the latest claim so far
        is written at once (so no file is held in memory), `settle` labels the rest."""
        name = upload.path.rsplit("/", 1)[-1]
        target, rest, copy = self.notebook_of(name, nb)
        if target is None:
            notebooks = ", ".join(sorted({n for _, n in self.grade_ids.values()}))
            entry.reason = f"'{name}' matches no notebook of any assignment ({notebooks})"
            return
        who = self.student_of(upload.path, rest)
        if who is None:
            entry.reason = (f"no student found: '{name}' is not '<student>_{target[1]}', no naming rule matches "
                            "(see [tool.quantization-course.collect] student_patterns) and it is in no student's folder")
            return
        entry.student, spelled, attempt = who
        entry.assignment = target[0]
        claim = Claim(entry, attempt or upload.stamp, "attempt time in its name" if attempt else "date in the download",
                      spelled, copy, attempt)
        claims = self.claims.setdefault((entry.student, *target), [])
        claims.append(claim)
        if max(claims, key=order) is claim:
            destination = self.root / "submitted" / entry.student / target[0] / target[1]
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
            entry.destination = str(destination.relative_to(self.root))

    def settle(self) -> None:
        """Label every claim: the latest is placed, the others superseded by
        it, or in conflict with it when it spells the student differently."""
        for claims in self.claims.values():
            winner = max(claims, key=order)
            winner.entry.status = "placed"
            if winner.submitted:  # nbgrader's record of when it was submitted: late penalties follow it
                timestamp = self.root / Path(winner.entry.destination).parent / "timestamp.txt"
                timestamp.write_text(f"{winner.submitted:%Y-%m-%d %H:%M:%S.%f}")
            for claim in claims:
                if claim is winner:
                    continue
                claim.entry.destination = ""
                if claim.spelled != winner.spelled:
                    claim.entry.status = "conflict"
                    claim.entry.reason = (
                        f"'{claim.spelled}' here and '{winner.spelled}' in {winner.entry.file}, which was placed, both "
                        f"became student '{winner.entry.student}': if they are two people, rename one file and collect again")
                else:
                    claim.entry.status = "superseded"
                    claim.entry.reason = f"{winner.entry.file} is later: {later(winner, claim)}"


def order(claim: Claim) -> tuple[datetime, int, str]:
    """Claims in time order; at equal times the higher copy number, then the
    path, so that the choice is repeatable."""
    return claim.when or datetime.min, claim.copy, claim.entry.file


def later(winner: Claim, loser: Claim) -> str:
    if winner.when is None or winner.when == loser.when:
        if winner.copy != loser.copy:
            return "the same time, and a later copy by its name"
        return "the same time, and the later name in sort order"
    before = f"{loser.when:%Y-%m-%d %H:%M:%S}" if loser.when else "none"
    return f"{winner.basis} {winner.when:%Y-%m-%d %H:%M:%S}, against {before} for this file"


def open_archive(data: bytes) -> zipfile.ZipFile | tarfile.TarFile | None:
    """`data` as a zip or a tar archive, None when it is neither; ValueError
    when it is a damaged one."""
    try:
        if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            return zipfile.ZipFile(io.BytesIO(data))
        if data[257:262] == b"ustar":
            return tarfile.open(fileobj=io.BytesIO(data))
    except READ_ERRORS as error:
        raise ValueError(f"a damaged archive: {error}") from None
    return None
