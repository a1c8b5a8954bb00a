#!/usr/bin/env bash
# Install the Debian PostgreSQL server package if its binaries are missing (for the store tests).
#
# Idempotent and quiet: prints nothing and exits 0 when /usr/lib/postgresql/<ver>/bin/initdb is
# already there. Otherwise, as root (or with password-less sudo), installs the `postgresql`
# package without recommends and without creating or starting the default `main` cluster (the
# tests start their own throwaway cluster), running `apt-get update` only if the package lists
# do not know the package yet or are too stale to install it. Without root it says what is missing and exits 0, so `make test`
# still runs (the PostgreSQL store tests then skip with the same message); set
# REQUIRE_POSTGRES=1 to make that an error instead. A failed install as root exits non-zero
# and shows apt's output.
set -euo pipefail

have_server() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}

if have_server; then
    exit 0
fi

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
if ! find_root; then
    echo "install-postgres: the PostgreSQL server (/usr/lib/postgresql/*/bin/initdb) is not installed and this" \
        "is not root: run 'apt-get install postgresql' as root; the PostgreSQL store tests will skip" >&2
    [ "${REQUIRE_POSTGRES:-0}" = 1 ] && exit 1
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-postgres: no apt-get on this machine: install a PostgreSQL server (initdb, pg_ctl) by hand" >&2
    exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {
    if ! "${as_root[@]}" "$@" >>"$log" 2>&1; then
        echo "install-postgres: '$*' failed:" >&2
        cat "$log" >&2
        exit 1
    fi
}

export DEBIAN_FRONTEND=noninteractive
# No default cluster: postgresql-common reads this before it would create (and start) one.
run mkdir -p /etc/postgresql-common/createcluster.d
run sh -c 'echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/50-no-main-cluster.conf'

if ! apt_install "$log" postgresql; then
    echo "install-postgres: 'apt-get install postgresql' failed:" >&2
    cat "$log" >&2
    exit 1
fi

if ! have_server; then
    echo "install-postgres: installed 'postgresql' but found no /usr/lib/postgresql/*/bin/initdb" >&2
    exit 1
fi
