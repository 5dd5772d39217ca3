#!/usr/bin/env bash
# Lists the Rust functions longer than a limit (issue #14: functions about 80 lines at most),
# counting from the line of `fn` to the line of its closing brace, longest first.
#   bash tests/long_functions.sh [--max N] [FILE_OR_DIR...]   (default: --max 80 src)
# Prints `LINES path:line name`; exits 0 (a report, not a gate).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - "$@" <<'PY'
import pathlib, re, sys

args = sys.argv[1:]
limit = 80
if args[:1] == ["--max"]:
    limit, args = int(args[1]), args[2:]
paths = []
for a in args or ["src"]:
    p = pathlib.Path(a)
    paths += sorted(p.rglob("*.rs")) if p.is_dir() else [p]

def blank_literals(text):
    """Text with comments, strings and char literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(text)
    def blank(s):
        return re.sub(r"[^\n]", " ", s)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j])); i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j): depth += 1; j += 2
                elif text.startswith("*/", j): depth -= 1; j += 2
                else: j += 1
            out.append(blank(text[i:j])); i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (i == 0 or not (text[i-1].isalnum() or text[i-1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            out.append(blank(text[i:j])); i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i) and (i == 0 or not (text[i-1].isalnum() or text[i-1] == "_"))):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(blank(text[i:j+1])); i = j + 1
        elif c == "'" and (m := re.compile(r"'(\\.[^']*|[^\\'])'").match(text, i)):
            out.append(blank(m.group(0))); i = m.end()
        else:
            out.append(c); i += 1
    return "".join(out)

found = []
fn_re = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")
for path in paths:
    text = blank_literals(path.read_text())
    for m in fn_re.finditer(text):
        # The body opens at the first `{` outside parentheses/brackets; a `;` first means no body.
        j, depth = m.end(), 0
        while j < len(text):
            ch = text[j]
            if ch in "([": depth += 1
            elif ch in ")]": depth -= 1
            elif depth == 0 and ch == ";": j = -1; break
            elif depth == 0 and ch == "{": break
            j += 1
        if j < 0 or j >= len(text):
            continue
        braces, k = 0, j
        while k < len(text):
            if text[k] == "{": braces += 1
            elif text[k] == "}":
                braces -= 1
                if braces == 0: break
            k += 1
        first = text.count("\n", 0, m.start()) + 1
        last = text.count("\n", 0, k) + 1
        if last - first + 1 > limit:
            found.append((last - first + 1, f"{path}:{first}", m.group(1)))
for lines, where, name in sorted(found, reverse=True):
    print(f"{lines:5} {where} {name}")
if not found:
    print(f"no function longer than {limit} lines")
PY
