#!/usr/bin/env bash
# Builds target/wheels/rwsgi-<version>-cp310-abi3-<platform>.whl: one wheel for every
# CPython from 3.10 on (pyo3's stable ABI), linking no libpython, with maturin (the PEP 517
# backend pyproject.toml names, so `pip install .` builds the same). maturin and auditwheel
# come from PyPI into a tools virtualenv of their own; `auditwheel show` then has to find
# the wheel consistent with its manylinux tag.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/wheel-tools
if [ ! -x "$tools/bin/maturin" ] || [ ! -x "$tools/bin/auditwheel" ]; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check "maturin>=1.9,<2" auditwheel
fi
# A target directory of its own: the extension's pyo3 (abi3) never rebuilds the binary's.
export CARGO_TARGET_DIR=target/wheel-build
rm -f target/wheels/rwsgi-*.whl
"$tools/bin/maturin" build --release --locked --out target/wheels "$@" >&2
wheel=$(ls target/wheels/rwsgi-*.whl)
"$tools/bin/auditwheel" show "$wheel" >&2
echo "$wheel"
