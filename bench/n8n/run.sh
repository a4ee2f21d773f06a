#!/usr/bin/env bash
# Baton against n8n on this machine: the same two webhook workflows in both,
#   (a) webhook -> set a field -> respond
#   (b) webhook -> set -> if -> a small JS-free transform -> respond
# driven by the same load generator (wrk) with the same duration and concurrency, executions
# saved in both (n8n's default; Baton always). Prints one table: requests/s, p50 and p99
# latency, errors, peak memory, and Baton's ratio to n8n.
#
#   bench/n8n/run.sh                 # DURATION=20s CONNECTIONS=32
#   DURATION=30s CONNECTIONS=64 bench/n8n/run.sh
#
# Needs: cargo, node 20 and npm (the registry), wrk (apt-get install wrk). n8n is installed
# into $BENCH_DIR (default /tmp/baton-n8n-bench) on the first run, about 5 minutes and 2 GB.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=bench/n8n
BENCH_DIR="${BENCH_DIR:-/tmp/baton-n8n-bench}"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
N8N_VERSION=2.8.4
N8N_PORT="${N8N_PORT:-5678}"
BATON_PORT="${BATON_PORT:-18080}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/baton-target}"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
mkdir -p "$BENCH_DIR"

# --- n8n, installed once -------------------------------------------------------------------
N8N_HOME="$BENCH_DIR/n8n"
if [ ! -x "$N8N_HOME/node_modules/.bin/n8n" ]; then
    echo "installing n8n $N8N_VERSION into $N8N_HOME (several minutes)"
    mkdir -p "$N8N_HOME"
    # n8n's xlsx dependency points at a CDN this network cannot reach; the registry has 0.18.5.
    cat >"$N8N_HOME/package.json" <<EOF
{"name": "n8n-bench-peer", "private": true, "dependencies": {"n8n": "$N8N_VERSION"},
 "overrides": {"xlsx": "0.18.5"}}
EOF
    (cd "$N8N_HOME" && npm install --no-audit --no-fund >"$BENCH_DIR/npm-install.log" 2>&1)
fi
if ! (cd "$N8N_HOME" && node -e "require('sqlite3')" 2>/dev/null); then
    # npm leaves install scripts unrun; sqlite3 is built here against the installed Node headers.
    echo "building n8n's sqlite3 module"
    (cd "$N8N_HOME" && npm rebuild sqlite3 --nodedir=/usr >"$BENCH_DIR/sqlite3-build.log" 2>&1)
fi

# --- Baton, built optimized -----------------------------------------------------------------
echo "building baton (release)"
cargo build --release --locked -p baton -q
BATON="$CARGO_TARGET_DIR/release/baton"

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# The peak resident memory of a process and its children, in MiB (VmHWM: the kernel's own
# high-water mark, so no sampling is missed).
peak_mib() {
    local total=0 pid
    for pid in $1 $(pgrep -P "$1" 2>/dev/null || true); do
        local kib
        kib=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${kib:-0}))
    done
    echo $((total / 1024))
}

wait_for() { # URL, what
    for _ in $(seq 1 240); do
        if curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"name": "warm", "score": 1}' \
            -w '%{http_code}' "$1" | grep -q '^200$'; then
            return 0
        fi
        sleep 0.5
    done
    echo "$2 did not answer at $1" >&2
    exit 1
}

# One wrk run: prints "requests/s p50_ms p99_ms errors".
load() {
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/post.lua" "$1")
    echo "$out" >>"$BENCH_DIR/wrk.log"
    awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx or 3xx responses/ { errors += $5 }
        /Socket errors/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
        END { printf "%.1f %.2f %.2f %d\n", rps, p50, p99, errors + 0 }' <<<"$out"
}

: >"$BENCH_DIR/wrk.log"

# --- n8n ------------------------------------------------------------------------------------
export N8N_USER_FOLDER="$BENCH_DIR/n8n-data"
rm -rf "$N8N_USER_FOLDER"
export N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false N8N_TEMPLATES_ENABLED=false \
    N8N_PERSONALIZATION_ENABLED=false N8N_LISTEN_ADDRESS=127.0.0.1 N8N_PORT SCARF_ANALYTICS=false \
    N8N_RUNNERS_ENABLED=false EXECUTIONS_DATA_SAVE_ON_SUCCESS=all N8N_LOG_LEVEL=warn
N8N="$N8N_HOME/node_modules/.bin/n8n"
# A running n8n ignores CLI activations: import and publish first.
for flow in a b; do
    "$N8N" import:workflow --input="$HERE/n8n-$flow.json" >>"$BENCH_DIR/n8n.log" 2>&1
done
for id in BenchWebhookSetA1 BenchWebhookIfB001; do
    "$N8N" publish:workflow --id="$id" >>"$BENCH_DIR/n8n.log" 2>&1 ||
        "$N8N" update:workflow --id="$id" --active=true >>"$BENCH_DIR/n8n.log" 2>&1
done
"$N8N" start >>"$BENCH_DIR/n8n.log" 2>&1 &
N8N_PID=$!
PIDS+=("$N8N_PID")
echo "n8n started (pid $N8N_PID); waiting for its webhooks"
wait_for "http://127.0.0.1:$N8N_PORT/webhook/bench-a" n8n
wait_for "http://127.0.0.1:$N8N_PORT/webhook/bench-b" n8n
echo "load on n8n: $DURATION, $CONNECTIONS connections"
read -r n8n_a_rps n8n_a_p50 n8n_a_p99 n8n_a_err < <(load "http://127.0.0.1:$N8N_PORT/webhook/bench-a")
read -r n8n_b_rps n8n_b_p50 n8n_b_p99 n8n_b_err < <(load "http://127.0.0.1:$N8N_PORT/webhook/bench-b")
n8n_mem=$(peak_mib "$N8N_PID")
kill "$N8N_PID" 2>/dev/null || true
wait "$N8N_PID" 2>/dev/null || true

# --- Baton ----------------------------------------------------------------------------------
BATON_DATA="$BENCH_DIR/baton-data"
rm -rf "$BATON_DATA"
BASE="http://127.0.0.1:$BATON_PORT"
# The per-hook limit (60,000 a minute by default) would cap the load itself; n8n has none.
env -u BATON_DATABASE_URL BATON_LOG=warn BATON_HOOK_RATE_LIMIT=1000000000 "$BATON" serve --addr "127.0.0.1:$BATON_PORT" --data-dir "$BATON_DATA" \
    >>"$BENCH_DIR/baton.log" 2>&1 &
BATON_PID=$!
PIDS+=("$BATON_PID")
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
COOKIES="$BENCH_DIR/baton-cookies"
curl -sf -c "$COOKIES" -H 'Content-Type: application/json' \
    -d '{"email": "bench@example.com", "password": "correct horse battery staple", "name": "Bench", "organization_name": "Bench"}' \
    "$BASE/api/v1/auth/signup" >/dev/null
api() { curl -sf -b "$COOKIES" -H "Origin: $BASE" -H 'Content-Type: application/json' "$@"; }
hooks=()
for flow in a b; do
    api -d @"$HERE/baton-$flow.json" "$BASE/api/v1/workflows" >/dev/null
    api -X POST "$BASE/api/v1/workflows/bench_$flow/activate" >/dev/null
    hooks+=("$(api "$BASE/api/v1/workflows/bench_$flow/hook" | sed -E 's/.*"url":"([^"]+)".*/\1/')")
done
wait_for "${hooks[0]}" Baton
wait_for "${hooks[1]}" Baton
echo "load on Baton: $DURATION, $CONNECTIONS connections"
read -r baton_a_rps baton_a_p50 baton_a_p99 baton_a_err < <(load "${hooks[0]}")
read -r baton_b_rps baton_b_p50 baton_b_p99 baton_b_err < <(load "${hooks[1]}")
baton_mem=$(peak_mib "$BATON_PID")
saved=$(api "$BASE/api/v1/executions?state=COMPLETED&limit=500" | grep -o '"trigger":"webhook"' | wc -l || true)

# --- The table ------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.1fx", a / b }'; }
echo
echo "Same machine, same run: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, POST {\"name\", \"score\"}; executions saved in both"
printf '%-28s %12s %10s %10s %8s %10s\n' "system / workflow" "requests/s" "p50 ms" "p99 ms" "errors" "peak MiB"
printf '%-28s %12s %10s %10s %8s %10s\n' "n8n $N8N_VERSION (a) set" "$n8n_a_rps" "$n8n_a_p50" "$n8n_a_p99" "$n8n_a_err" "$n8n_mem"
printf '%-28s %12s %10s %10s %8s %10s\n' "n8n $N8N_VERSION (b) set+if" "$n8n_b_rps" "$n8n_b_p50" "$n8n_b_p99" "$n8n_b_err" "$n8n_mem"
printf '%-28s %12s %10s %10s %8s %10s\n' "Baton (a) set" "$baton_a_rps" "$baton_a_p50" "$baton_a_p99" "$baton_a_err" "$baton_mem"
printf '%-28s %12s %10s %10s %8s %10s\n' "Baton (b) set+if" "$baton_b_rps" "$baton_b_p50" "$baton_b_p99" "$baton_b_err" "$baton_mem"
echo
printf '%-28s %12s %10s %10s %8s %10s\n' "Baton / n8n (a)" "$(ratio "$baton_a_rps" "$n8n_a_rps")" "" \
    "$(ratio "$n8n_a_p99" "$baton_a_p99") lower" "" "$(ratio "$n8n_mem" "$baton_mem") less"
printf '%-28s %12s %10s %10s %8s %10s\n' "Baton / n8n (b)" "$(ratio "$baton_b_rps" "$n8n_b_rps")" "" \
    "$(ratio "$n8n_b_p99" "$baton_b_p99") lower" "" "$(ratio "$n8n_mem" "$baton_mem") less"
echo
echo "targets: >= 50x requests/s, <= 1/20 of the p99, <= 1/10 of the memory, 0 errors"
echo "Baton's saved executions: GET /api/v1/executions?state=COMPLETED lists them ($saved on its first page)"
echo "raw wrk output: $BENCH_DIR/wrk.log"
