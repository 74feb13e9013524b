"""The "before you submit" cell at the end of every release notebook.

Its code is ``before_you_submit`` below, copied into the cell by
``autograder.release`` with what the release knows about the notebook: its
exercises, and the grade id, type, role and a fingerprint of each graded
cell. The function runs in the student's kernel, on Colab or anywhere else,
so it uses the standard library only: it never imports nbgrader or this
package, and it never raises.

It re-runs every visible check (the test cells' code as released), lists the
exercises still unanswered, and says which graded cells lost their grading
metadata, were retyped, duplicated or deleted, and what the grader will do
about it. A kernel cannot always see its own notebook: on Colab it asks the
page for the live notebook; in Jupyter and VS Code it reads the file as last
saved; failing both it works from what this session ran (IPython's ``In``),
and says which of these it used.
"""

from __future__ import annotations


def before_you_submit(release, namespace=None, notebook=None, history=None):
    """Print a checklist of this notebook's exercises; never raises.

    `namespace`: the notebook's globals (default: the caller's); `notebook`: its
    JSON (default: found as described above); `history`: the sources this
    session ran (default: IPython's ``In``). Returns {exercise title: (status,
    reason)}, status one of "ok", "fails", "to do", "?", and "repairs", a list."""
    import contextlib
    import hashlib
    import io
    import json
    import os
    import sys

    RANK = {"ok": 0, "?": 1, "fails": 2, "to do": 3}
    status, repairs = {}, []

    def note(title, kind, reason=""):
        if title not in status or RANK[kind] > RANK[status[title][0]]:
            status[title] = (kind, reason)

    def text(source):
        return "".join(source) if isinstance(source, list) else str(source or "")

    def fingerprint(source):
        return hashlib.sha256(text(source).replace("\r\n", "\n").strip().encode()).hexdigest()[:16]

    def grade_id(cell):
        return ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")

    def find_notebook():
        """(notebook JSON, what it is), or (None, None) where the kernel cannot see it."""
        try:
            from google.colab import _message  # on Colab the page sends the notebook as it is now

            reply = _message.blocking_request("get_ipynb", request="", timeout_sec=20)
            if isinstance(reply, dict) and isinstance(reply.get("ipynb"), dict):
                return reply["ipynb"], "the notebook as it is now in Colab"
        except Exception:
            pass
        # VS Code names the file; Jupyter gives its path, maybe relative to the server's root
        # folder, while the kernel runs in the notebook's folder.
        for path in (namespace.get("__vsc_ipynb_file__"), namespace.get("__session__"), os.environ.get("JPY_SESSION_NAME")):
            if not (isinstance(path, str) and path.endswith(".ipynb")):
                continue
            for candidate in (path, os.path.basename(path)):
                if os.path.isfile(candidate):
                    try:
                        with open(candidate, encoding="utf-8") as f:
                            return json.load(f), f"{os.path.basename(path)} as last saved (save first, so that it sees your latest edits)"
                    except Exception:
                        pass
        return None, None

    try:
        if namespace is None:
            namespace = sys._getframe(1).f_globals
        seen = "the notebook it was given"
        if notebook is None:
            notebook, seen = find_notebook()
        if notebook is None:
            seen = "only what this session ran: the kernel cannot see the notebook file here"
        if history is None:
            history = [h for h in namespace.get("In", []) if isinstance(h, str)]
        cells = [c for c in (notebook or {}).get("cells", []) if isinstance(c, dict)]
        sources = {fingerprint(s): text(s) for s in history}
        sources.update({fingerprint(c.get("source")): text(c.get("source")) for c in cells})
        exercise_of = {gid: e["title"] for e in release["exercises"] for gid in e["answers"] + e["checks"]}

        # 1. Where each graded cell is, and in what state (only when the notebook is visible).
        located = {}
        if notebook is not None:
            holders = {}
            for index, cell in enumerate(cells):
                holders.setdefault(grade_id(cell), []).append(index)
            for gid, info in release["cells"].items():
                label = f"{info['role']} cell '{gid}'" + (f" ({exercise_of[gid]})" if gid in exercise_of else "")
                indices = holders.get(gid, [])
                if len(indices) > 1:
                    repairs.append(f"the {label} is there {len(indices)} times: the grader grades one copy; delete the others.")
                if not indices:
                    signature = info.get("signature")
                    indices = [
                        i for i, c in enumerate(cells)
                        if not grade_id(c) and "before_you_submit(" not in text(c.get("source"))
                        and (fingerprint(c.get("source")) == info["fingerprint"] or signature and signature in text(c.get("source")))
                    ][-1:]
                    if indices:
                        repairs.append(f"the {label} lost its grading metadata; the grader recognises it by its content and restores it.")
                    elif info["role"] in ("answer", "written answer"):
                        repairs.append(
                            f"the {label} lost its grading metadata or was deleted. The grader takes the cell in its "
                            "place as your answer, or restores it empty (0 points): keep your answer right under the "
                            "exercise, or paste it into a fresh copy of the assignment."
                        )
                    else:
                        repairs.append(f"the {label} lost its grading metadata or was deleted; the grader restores it.")
                if indices:
                    cell = located[gid] = cells[indices[-1]]
                    if cell.get("cell_type") != info["type"]:
                        repairs.append(
                            f"the {label} is now a {cell.get('cell_type')} cell; it was a {info['type']} cell. The grader "
                            "turns it back; better change it back yourself (Colab: Ctrl+M Y for code, Ctrl+M M for text)."
                        )

        # 2. Answers still the placeholder, and every visible check re-run in this namespace.
        for exercise in release["exercises"]:
            title, stub_left = exercise["title"], False
            for gid in exercise["answers"]:
                info, cell = release["cells"][gid], located.get(gid)
                if cell is not None:
                    source = text(cell.get("source"))
                    if info["type"] == "markdown" and ("YOUR ANSWER HERE" in source or not source.strip()):
                        note(title, "to do", "the written answer is still empty (YOUR ANSWER HERE)")
                    elif info["type"] == "code" and "raise NotImplementedError()" in source:
                        stub_left = True  # to do, unless the answer is elsewhere and its checks pass
                    elif not exercise["checks"]:
                        note(title, "ok", "answered (graded by hand)")
                elif not exercise["checks"]:
                    note(title, "?", "a written answer: this cell cannot see it from the kernel, so check it yourself")
            for gid in exercise["checks"]:
                source = sources.get(release["cells"][gid]["fingerprint"])
                if source is None:
                    note(title, "?", "its check was edited or has not run in this session: run the check cell "
                                      "under the exercise (the grader uses the original check)")
                    continue
                out = io.StringIO()
                try:
                    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                        exec(compile(source, f"<check {gid}>", "exec"), namespace)
                except Exception as error:  # AssertionError: the check's own message
                    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
                    message = " ".join(lines[:2])[:300]
                    chain, cause = [], error
                    while cause is not None and len(chain) < 10:
                        chain.append(cause)
                        cause = cause.__cause__ or cause.__context__
                    if any(isinstance(e, NotImplementedError) for e in chain) or "raised NotImplementedError" in message:
                        note(title, "to do", "your code still raises NotImplementedError")
                    elif isinstance(error, NameError):
                        note(title, "to do", f"{message}: answer the exercise and run its cell")
                    else:
                        kind = "" if isinstance(error, AssertionError) else f"{type(error).__name__}: "
                        note(title, "fails", (kind + message) or type(error).__name__)
                else:
                    note(title, "ok", "its visible check passes")
            if stub_left and status.get(title, ("?",))[0] != "ok":
                note(title, "to do", "the answer cell still has raise NotImplementedError()")

        # 3. The report.
        print("Before you submit")
        print(f"(This cell saw {seen}.)")
        for title, (kind, reason) in status.items():
            print(f"  {kind.upper():6} {title}: {reason}")
        if repairs:
            print("Cells the grader will have to repair:")
            for line in repairs:
                print(f"  - {line}")
        elif notebook is None:
            print("The cells' grading metadata could not be checked: the notebook is not visible from the kernel.")
        done = sum(kind == "ok" for kind, _ in status.values())
        print(f"{done} of {len(release['exercises'])} exercises look done.", end=" ")
        if done == len(release["exercises"]) and not repairs:
            print("Download the notebook (File > Download > .ipynb) and submit it.")
        else:
            print("You can submit anyway; whatever is done counts.")
        print("The grader also runs hidden tests with other inputs, and written answers are graded by hand.")
    except Exception as error:  # never break the notebook: say what went wrong instead
        print(f"The before-you-submit check could not finish ({type(error).__name__}: {error}); your work is unaffected.")
    return {**status, "repairs": repairs}
