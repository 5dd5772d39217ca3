#!/usr/bin/env bash
# Builds target/debian/rwsgi_<version>_<arch>.deb against Debian's own Python
# (python3-dev, PYO3_PYTHON=/usr/bin/python3, no rpath) with cargo-deb, which computes the
# dependencies with dpkg-shlibdeps. cargo-deb rather than debhelper: the package is one
# Rust binary plus static files, and cargo-deb reads everything from Cargo.toml without a
# debian/ tree to keep in step. Then runs lintian, which must report nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for package in python3-dev lintian dpkg-dev; do
    dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
done
if ((${#need[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb@3.8.0
export PYO3_PYTHON=/usr/bin/python3
export RWSGI_NO_RPATH=1
# A target directory of its own, so switching interpreters never rebuilds the other.
export CARGO_TARGET_DIR=target/debian-build
# Packaged binaries carry no debug symbols (lintian: unstripped-binary-or-object).
export CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols
mkdir -p target/debian-assets
cargo build --release --locked
"$CARGO_TARGET_DIR/release/rwsgi" --print-man-page 8 | gzip -9n >target/debian-assets/rwsgi.8.gz
"$CARGO_TARGET_DIR/release/rwsgi" --print-man-page 5 | gzip -9n >target/debian-assets/rwsgi.ini.5.gz
cargo deb --no-build --locked --output target/debian/
deb=$(ls -t target/debian/rwsgi_*.deb | head -1)
echo "built $deb"
# lintian's only remark as root is that it runs as root; any tag fails the build.
report=$(lintian --fail-on error,warning --tag-display-limit 0 "$deb" 2>&1 | grep -v "^running with root privileges" || true)
if [ -n "$report" ]; then
    echo "$report"
    exit 1
fi
echo "lintian: clean"
