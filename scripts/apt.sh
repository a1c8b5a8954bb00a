# Shared by the scripts/install-*.sh scripts (sourced, not run): how to reach root, and an apt
# install that refreshes the package lists only when they do not know the package or are stale.

# Set `as_root` to the prefix that runs a command as root: nothing for root, `sudo -n` with
# password-less sudo. Return 1 (as_root unset) when neither is available.
find_root() {
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        return 1
    fi
}

# apt_install LOG PACKAGE...: install the packages without recommends, appending apt's output to
# LOG. `apt-get update` runs first only if apt has no candidate for the first package, or once
# after a failed install (package lists too stale for the mirror). Returns apt's status.
apt_install() {
    local log=$1
    shift
    local install=(apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "$@")
    local candidate
    export DEBIAN_FRONTEND=noninteractive
    candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && "${as_root[@]}" "${install[@]}" >>"$log" 2>&1; then
        return 0
    fi
    "${as_root[@]}" apt-get update -qq >>"$log" 2>&1 && "${as_root[@]}" "${install[@]}" >>"$log" 2>&1
}
