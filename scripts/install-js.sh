#!/usr/bin/env bash
# Install the pages' browser libraries from the npm registry, as package-lock.json pins them:
# qrcode-generator (the sealed-bid slip's QR code, drawn in the bidder's browser) and axe-core (the
# accessibility checker the browser tests inject). Idempotent; `npm ci` only when node_modules is older
# than the lock file. Without npm it says what is missing and exits 0: the pages then show the slip without
# its QR code, and the accessibility tests skip, saying so. Set REQUIRE_JS=1 to make that an error.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/auction_engine/server/pages/vendor"
if [ -f "$dir/node_modules/.package-lock.json" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-js: npm is not installed: the sealed-bid slip will have no QR code and the axe-core tests will skip" >&2
    [ "${REQUIRE_JS:-0}" = 1 ] && exit 1
    exit 0
fi
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
