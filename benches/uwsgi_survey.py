#!/usr/bin/env python3
"""How much of a survey of real uwsgi.ini files rwsgi honours.

Reads the per-option file counts of ../shared/notes/uwsgi-options-in-the-wild.md (or the
path given) and rwsgi's own option table (`rwsgi --print-option-table`), classifies every
real uWSGI option of the survey as honoured, no-op (rwsgi already behaves so), not honoured,
or unknown to rwsgi, and prints the share of files that have every real option honoured.

The survey gives counts per option, not per file, so the share is a lower bound: a file is
counted as failing for each unhonoured option it holds (the union bound), as if no two
unhonoured options ever shared a file.

usage: benches/uwsgi_survey.py [SURVEY.md] [path/to/rwsgi]
"""
import re
import subprocess
import sys

survey = sys.argv[1] if len(sys.argv) > 1 else "../shared/notes/uwsgi-options-in-the-wild.md"
binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/rwsgi"

# Keys the INI reader itself handles (configuration logic), not options of the table.
CONFIG_LOGIC = {
    "if-env", "ifenv", "if-not-env", "if-exists", "if-not-exists", "if-file", "if-not-file",
    "if-dir", "if-not-dir", "endif", "for", "for-glob", "endfor",
}

rows = []
files_total = None
for line in open(survey, encoding="utf-8"):
    match = re.match(r"\| (\d+) \| `([^`]+)` \| (\d+) \| [\d.]+% \| ([^|]+) \|", line)
    if match:
        rows.append((match.group(2), int(match.group(3)), match.group(4).strip()))
    total = re.search(r"Sample: \*\*(\d+) ", line)
    if total:
        files_total = int(total.group(1))

table = subprocess.run([binary, "--print-option-table"], capture_output=True, text=True, check=True).stdout
status = {}
for line in table.splitlines()[2:]:
    cells = [c.strip() for c in line.strip("|").split(" | ")]
    names = [cells[0].strip("`")] + [a.strip().strip("`") for a in cells[1].split(",") if a.strip()]
    kind = "not honoured" if cells[2].startswith("**not honoured**") else cells[2].split(":")[0]
    for name in names:
        status[name] = kind

counts = {"honoured": 0, "no-op": 0, "not honoured": 0, "unknown": 0, "config logic": 0}
failing_mentions = 0
failing = []
for key, files, where in rows:
    if where == "not an option":
        continue
    kind = "config logic" if key in CONFIG_LOGIC else status.get(key, "unknown")
    counts[kind] += 1
    if kind in ("not honoured", "unknown"):
        failing_mentions += files
        failing.append((files, key, kind))

real = sum(counts.values())
print(f"survey: {files_total} files, {len(rows)} distinct keys, {real} of them real uWSGI options")
for kind, n in counts.items():
    print(f"  {kind:13} {n:3} options")
print("real options not honoured, by files using them:")
for files, key, kind in sorted(failing, reverse=True):
    print(f"  {files:3}  {key} ({kind})")
lower = 1 - failing_mentions / files_total
print(f"files with every real option honoured: at least {lower:.1%} "
      f"({files_total - failing_mentions} of {files_total}; union bound over {failing_mentions} mentions)")
