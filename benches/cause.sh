#!/usr/bin/env bash
# Cause benchmark (issue 13, "the cause named"): each regressing release of the PostgreSQL
# stand-in against an accepted baseline run of the same profile, with the profile's optional
# PostgreSQL and Redis probes on. Prints, per release, the verdict, the mechanism named
# first (`comparisons.cause.mechanisms`), and `comparisons.cause.named`.
#
# CASES (default below) lists `release:profile:duration`; every run uses seed 1 (baseline)
# or 2 (candidate), 4 workers and --db-maxconn 4. Needs the test PostgreSQL
# (PEAKGATE_TEST_PG_URL or postgres://postgres@127.0.0.1:5432) and Redis
# (PEAKGATE_TEST_REDIS_URL or redis://127.0.0.1:6379). PEAKGATE=path/to/peakgate skips the
# release build. A case takes its duration twice, plus the stand-in's start (a few seconds).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_URL=${PEAKGATE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${PEAKGATE_TEST_REDIS_URL:-redis://127.0.0.1:6379}/8
CASES=${CASES:-quant-lock:smoke:60s conn-leak:smoke:20s session-bloat:smoke:20s pos-n-plus-one:smoke:20s slow-report:month-end-close:45s}

if [ -z "${PEAKGATE:-}" ]; then
  (cd "$ROOT" && cargo build --release -q)
  PEAKGATE="$ROOT/target/release/peakgate"
fi
WORK=$(mktemp -d)
STANDIN_PID=
cleanup() {
  [ -n "$STANDIN_PID" ] && kill "$STANDIN_PID" 2>/dev/null && wait "$STANDIN_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts a stand-in of RELEASE on its own database; sets URL and DB.
start() {
  DB="peakgate_cause_${1//-/_}_$$"
  "$PEAKGATE" standin --backend postgres --reset --pg-url "$PG_URL/$DB" --release "$1" \
    --workers 4 --db-maxconn 4 --redis-url "$REDIS_URL" --listen 127.0.0.1:0 \
    > "$WORK/standin.out" 2> "$WORK/standin.err" &
  STANDIN_PID=$!
  URL=
  for _ in $(seq 180); do
    URL=$(grep -ho 'http://127\.0\.0\.1:[0-9]*' "$WORK/standin.out" "$WORK/standin.err" 2>/dev/null | head -1 || true)
    [ -n "$URL" ] && break
    sleep 1
  done
  [ -n "$URL" ] || { echo "the $1 stand-in did not start: $(cat "$WORK/standin.err")"; exit 1; }
}

stop() {
  kill "$STANDIN_PID"; wait "$STANDIN_PID" 2>/dev/null || true
  STANDIN_PID=
}

# Runs PROFILE for DURATION against the stand-in; prints the run folder.
run() {
  local profile=$1 duration=$2 release=$3
  shift 3
  ODOO_PASSWORD=admin PEAKGATE_PG_URL="$PG_URL/$DB" PEAKGATE_REDIS_URL="$REDIS_URL" \
    "$PEAKGATE" run --quiet --target "$URL" --profile "$ROOT/profiles/$profile.toml" \
    --duration "$duration" --release "$release" --out "$WORK/reports" "$@" 2>>"$WORK/stderr" || true
}

for case in $CASES; do
  IFS=: read -r release profile duration <<<"$case"
  start baseline
  accepted=$(run "$profile" "$duration" baseline --seed 1)
  stop
  start "$release"
  candidate=$(run "$profile" "$duration" "$release" --seed 2 --baseline "$accepted")
  stop
  python3 - "$release" "$profile" "$duration" "$candidate/verdict.json" <<'PY'
import json, sys
release, profile, duration, path = sys.argv[1:]
v = json.load(open(path))
cause = (v.get("comparisons") or {}).get("cause") or {}
first = (cause.get("mechanisms") or [{}])[0]
print(f"{release} on {profile} ({duration}): {v['verdict']}; first mechanism: "
      f"{first.get('mechanism', '-')} ({first.get('check', '-')}); named: {cause.get('named', '-')}")
PY
done
