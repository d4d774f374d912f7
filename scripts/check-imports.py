#!/usr/bin/env python3
"""Checks the import graph against docs/DESIGN.md (and each target's README.md).

The table under "Swift package layout" names, for every target in Sources/, the
project's own modules it may import. A target missing from the table, or a
Swift file importing one of our modules its row does not list, fails the check
(exit 1) with the file and line. Run by `make test`.
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
design = (root / "docs" / "DESIGN.md").read_text()

allowed: dict[str, set[str]] = {}
in_table = False
for line in design.splitlines():
    if line.startswith("| target | its job | may import |"):
        in_table = True
        continue
    if in_table:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if set(cells[0]) <= {"-", " "}:
            continue  # the header's rule
        targets = re.findall(r"`([^`]+)`", cells[0])
        imports = {name.strip() for name in cells[-1].split(",") if name.strip() not in ("", "—")}
        for target in targets:
            allowed[target] = imports
if not allowed:
    sys.exit("check-imports: no 'may import' table found in docs/DESIGN.md")

ours = set(allowed)
problems = []
for folder in sorted(p for p in (root / "Sources").iterdir() if p.is_dir()):
    target = folder.name
    if target not in allowed:
        problems.append(f"Sources/{target}: target missing from the table in docs/DESIGN.md")
        continue
    # A Swift target's README says its job and repeats its row's imports: the two must agree.
    readme = folder / "README.md"
    if any(folder.glob("*.swift")) or any(folder.rglob("*.swift")):
        if not readme.exists():
            problems.append(f"Sources/{target}/README.md: missing (its job and what it may import)")
        else:
            line = next((l for l in readme.read_text().splitlines() if l.startswith("May import:")), None)
            said = {name.strip() for name in (line or "").removeprefix("May import:").split(",") if name.strip() not in ("", "—")}
            if line is None or said != allowed[target]:
                problems.append(f"Sources/{target}/README.md: 'May import:' must list exactly {', '.join(sorted(allowed[target])) or '—'}")
    for source in sorted(folder.rglob("*.swift")):
        for number, text in enumerate(source.read_text().splitlines(), 1):
            match = re.match(r"^\s*(?:@\w+\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?(\w+)", text)
            if not match:
                continue
            module = match.group(1)
            if module in ours and module != target and module not in allowed[target]:
                problems.append(f"{source.relative_to(root)}:{number}: {target} imports {module}, "
                                f"which docs/DESIGN.md does not allow")

for problem in problems:
    print(problem)
if problems:
    sys.exit(1)
print(f"check-imports: {len(allowed)} targets, imports as docs/DESIGN.md allows")
