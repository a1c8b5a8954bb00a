#!/usr/bin/env bash
# Install what the optional C accelerator of the ledger (ledger/_speedups.c) needs to be built:
# OpenSSL's headers (Debian's libssl-dev) and a C compiler.
#
# Idempotent and quiet: prints nothing and exits 0 when /usr/include/openssl/sha.h and a C
# compiler are already there. Otherwise, as root (or with password-less sudo) and with apt-get,
# installs libssl-dev (and gcc, libc6-dev if there is no `cc`), running `apt-get update` only if
# the package lists do not know the package yet or are stale. It never fails the install: the
# accelerator is optional, so without root, without apt-get, or if apt fails, it says what is
# missing and exits 0, and `pip install` then builds the package without it (the pure-Python
# ledger runs; the native tests skip, saying why).
set -uo pipefail

have_headers() { [ -f /usr/include/openssl/sha.h ] || [ -f /usr/local/include/openssl/sha.h ]; }
have_cc() { command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; }

if have_headers && have_cc; then
    exit 0
fi

packages=()
have_headers || packages+=(libssl-dev)
have_cc || packages+=(gcc libc6-dev)
skip() {
    echo "install-build-deps: $1; the ledger's optional C accelerator will not be built (pure Python runs)" >&2
    exit 0
}

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
find_root || skip "${packages[*]} missing and this is not root (run 'apt-get install ${packages[*]}' as root)"
command -v apt-get >/dev/null 2>&1 || skip "${packages[*]} missing and there is no apt-get"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! apt_install "$log" "${packages[@]}"; then
    cat "$log" >&2
    skip "'apt-get install ${packages[*]}' failed"
fi
have_headers || skip "installed ${packages[*]} but found no openssl/sha.h"
