#!/usr/bin/env bash
# The web app's checks, run by `make test`: the API types generated from web/openapi.json, a
# type check, unit tests, a fresh build compared with the committed web/dist (the binary
# embeds that folder), and the browser tests against a real `baton serve` in Chromium.
# Without Node or Chromium the part that needs it says SKIPPED; with
# BATON_TEST_REQUIRE_SERVICES=1 (CI) a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")"

skip() {
    echo "SKIPPED $1 (install $2 to run)"
    if [ "${BATON_TEST_REQUIRE_SERVICES:-}" = "1" ]; then
        echo "BATON_TEST_REQUIRE_SERVICES=1 does not allow skipping it" >&2
        exit 1
    fi
}

if ! command -v npm >/dev/null 2>&1; then
    skip "the web app's tests" "Node.js 20"
    exit 0
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
fi
# The API types come from web/openapi.json, which a server test keeps equal to the served
# document (crates/server/tests/openapi.rs).
npx openapi-typescript openapi.json -o src/lib/schema.d.ts >/dev/null
npx tsc --noEmit
npx vitest run
npx vite build --logLevel warn
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 \
    && [ -n "$(git status --porcelain -- dist src/lib/schema.d.ts)" ]; then
    git status --short -- dist src/lib/schema.d.ts
    echo "web/dist or the API types differ from what their sources build: commit the new ones" >&2
    exit 1
fi

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    skip "the browser tests" "Debian's chromium package"
    exit 0
fi
target="${CARGO_TARGET_DIR:-../target}"
(cd .. && ${CARGO:-cargo} build --locked -p baton --quiet)
CHROMIUM="$CHROMIUM" node e2e/run.mjs "$target/debug/baton"
