#!/usr/bin/env bash
# Install Debian's Chromium (and its WebDriver) if missing, for the end-to-end browser tests, with a
# CJK font (fonts-wqy-zenhei) so that pages and screenshots show Chinese text rather than boxes.
#
# Idempotent and quiet: prints nothing and exits 0 when /usr/bin/chromium and /usr/bin/chromedriver
# are already there. Otherwise, as root (or with password-less sudo), installs the Debian packages
# `chromium` and `chromium-driver` (no recommends), running `apt-get update` first only if apt
# does not know the package yet. Playwright drives this Chromium through `executable_path`; it never
# downloads a browser of its own (`playwright install` is not needed and not used). Without root it
# says what is missing and exits 0 so `make test` still runs (the browser tests then skip, saying
# the same); set REQUIRE_BROWSER=1 to make that an error. A failed install as root exits non-zero.
set -euo pipefail

have_browser() {
    [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -d /usr/share/fonts/truetype/wqy ]
}

if have_browser; then
    exit 0
fi

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
if ! find_root; then
    echo "install-browser: Chromium (/usr/bin/chromium, /usr/bin/chromedriver) is not installed and this is not" \
        "root: run 'apt-get install chromium chromium-driver' as root; the browser tests will skip" >&2
    [ "${REQUIRE_BROWSER:-0}" = 1 ] && exit 1
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get on this machine: install Chromium and chromedriver by hand" >&2
    exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! apt_install "$log" chromium chromium-driver fonts-wqy-zenhei; then
    cat "$log" >&2
    exit 1
fi
have_browser || { echo "install-browser: apt-get finished but chromium or its font is still missing" >&2; exit 1; }
