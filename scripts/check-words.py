#!/usr/bin/env python3
"""Checks that the domain's words are spelled where they belong (issue 14).

1. A job or backup status is a typed value (SendenseCore's BackupStatus,
   JobState, FlowRunState): no string literal spelling one appears outside
   SendenseCore and Catalog (which stores their raw words). VSphere is exempt:
   there "queued"/"running" are vCenter's task states, not ours.
2. `APIError` (an HTTP status) exists only in the Hub: below it, errors speak
   the domain and Hub/HTTP/ErrorMapping.swift chooses their statuses.
3. A repository's on-disk format (`vms/`, `.partial`, `.deleting`,
   `.merging`) is spelled only in the Repository target.

Comments are ignored. Exit 1 with file:line for each finding. Run by `make test`.
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
STATUS_WORDS = {"started", "in_progress", "completed", "failed", "cancelled", "running", "queued", "skipped", "partial"}
SUFFIXES = re.compile(r'"[^"\n]*(\.partial|\.deleting|\.merging)"|"[^"\n]*/vms(/[^"\n]*)?"|"vms/[^"\n]*"')
# A literal that is not a subscript key (`json["skipped"]` names an API field, not a state).
LITERAL = re.compile(r'(?<!\[)"((?:[^"\\\n]|\\.)*)"(?!\])')


def code(line: str) -> str:
    """The line without a trailing // comment (good enough for our style: no // inside literals we check)."""
    stripped = line.lstrip()
    if stripped.startswith("///") or stripped.startswith("//"):
        return ""
    return line.split(" //", 1)[0]


problems = []
for path in sorted((root / "Sources").rglob("*.swift")):
    target = path.relative_to(root / "Sources").parts[0]
    relative = path.relative_to(root)
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = code(line)
        if not text:
            continue
        if target not in ("SendenseCore", "Catalog", "VSphere"):
            for literal in LITERAL.findall(text):
                if literal in STATUS_WORDS:
                    problems.append(f"{relative}:{number}: status word \"{literal}\" spelled outside SendenseCore/Catalog: use the typed value")
        if target != "Hub" and re.search(r"\bAPIError\b", text):
            problems.append(f"{relative}:{number}: APIError below the Hub: throw a domain error and map it in Hub/HTTP/ErrorMapping.swift")
        if target != "Repository" and SUFFIXES.search(text):
            problems.append(f"{relative}:{number}: the repository's format is spelled outside Repository: ask BackupLayout/RepositoryContents")

for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
