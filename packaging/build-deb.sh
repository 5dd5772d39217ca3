#!/usr/bin/env bash
# packaging/build-deb.sh SUITE (bookworm or trixie) writes
# target/debian/SUITE/rwsgi_<version>-1+debNN_<arch>.deb.
#
# The package holds the wheel's extension module (built against the stable ABI, so one file
# loads in bookworm's Python 3.11 and trixie's 3.13) under /usr/lib/python3/dist-packages
# and a /usr/bin/rwsgi run by Debian's python3: it depends on python3 and libc, never on one
# libpythonX.Y. The two suites' packages differ in their revision (+deb12, +deb13), so an
# archive can carry both. cargo-deb assembles it from Cargo.toml's [package.metadata.deb]
# and computes the library dependencies with dpkg-shlibdeps; lintian must report nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-}
case "$suite" in
    bookworm) revision=1+deb12 ;;
    trixie) revision=1+deb13 ;;
    *) echo "usage: packaging/build-deb.sh bookworm|trixie" >&2; exit 2 ;;
esac
need=()
for package in lintian dpkg-dev unzip; do
    dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if ((${#need[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb@3.8.0

wheel=$(bash packaging/build-wheel.sh)
assets=target/debian-assets
rm -rf "$assets"
mkdir -p "$assets/python"
unzip -q "$wheel" 'rwsgi/*' -d "$assets/python"
cat >"$assets/rwsgi" <<'LAUNCHER'
#!/usr/bin/python3
# rwsgi: Debian's python3 hosts rwsgi's extension module (see rwsgi(8)).
from rwsgi.__main__ import main

main()
LAUNCHER
PYTHONPATH="$assets/python" python3 -m rwsgi --print-man-page 8 | gzip -9n >"$assets/rwsgi.8.gz"
PYTHONPATH="$assets/python" python3 -m rwsgi --print-man-page 5 | gzip -9n >"$assets/rwsgi.ini.5.gz"
out=target/debian/$suite
rm -rf "$out"
mkdir -p "$out"
cargo deb --no-build --locked --deb-revision "$revision" --output "$out/"
deb=$(ls "$out"/rwsgi_*.deb)
echo "built $deb"
# lintian's only remark as root is that it runs as root; any tag fails the build.
report=$(lintian --fail-on error,warning --tag-display-limit 0 "$deb" 2>&1 | grep -v "^running with root privileges" || true)
if [ -n "$report" ]; then
    echo "$report"
    exit 1
fi
echo "lintian: clean"
