# Sourced by tests/system/box.sh and tests/matrix/run.sh: the machine's configured Debian
# mirror, read at run time and never written down (the roots are debootstrapped from it).
debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { echo "no Debian mirror configured" >&2; return 1; }
    echo "$uri"
}
