#!/usr/bin/env bash
# Verdict benchmark (issue 13, goal 1): false alarms on unchanged releases. A/A pairs (the
# same release, two seeds) judged by each profile's own gate and against the run before,
# counted by verdict. The target is 0 fail and at most 1 warn per set.
#
# 1. PostgreSQL stand-in (needs the test PostgreSQL, PEAKGATE_TEST_PG_URL or
#    postgres://postgres@127.0.0.1:5432, and Redis, PEAKGATE_TEST_REDIS_URL or
#    redis://127.0.0.1:6379, for its sessions), a fresh one per profile with the profile's
#    own `[standin] workers` (the server its gate was written for; PG_WORKERS=N sets N for
#    every profile, e.g. PG_WORKERS=4 for the issue's smoke measurement) and --db-maxconn 4,
#    with the profiles' optional PostgreSQL and Redis probes on, so the server-side
#    comparisons are judged too: PG_PAIRS pairs (default 20) of each profile in PG_PROFILES
#    (default smoke), from PG_PAIRS + 1 runs, each judged against the one before;
# 2. the in-process memory stand-in: MEM_PAIRS pairs (default 10) of each profile in
#    MEM_PROFILES (default: smoke, ecommerce-burst, flash-sale, month-end-close; the 4-hour
#    pos-store-opening and the 11-hour peak-season-rehearsal only with DURATION set).
# DURATION (e.g. 60s) cuts every run to that length, which changes what the gates see: say
# so when quoting the figures. The whole default set takes about 3 hours (month-end-close is
# 4.5 minutes a run); PG_PAIRS=20 MEM_PROFILES=smoke takes about 10 minutes.
# PEAKGATE=path/to/peakgate skips the release build. Prints one line per set and every check
# that did not pass; each line also says what the verdicts would have been had every
# percentile been judged on its point estimate (the rule before its confidence bound).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PG_PAIRS=${PG_PAIRS:-20}
MEM_PAIRS=${MEM_PAIRS:-10}
PG_PROFILES=${PG_PROFILES:-smoke}
MEM_PROFILES=${MEM_PROFILES:-smoke ecommerce-burst flash-sale month-end-close}
PG_URL=${PEAKGATE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${PEAKGATE_TEST_REDIS_URL:-redis://127.0.0.1:6379}/8
DURATION=${DURATION:-}

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

EXTRA=()
[ -n "$DURATION" ] && EXTRA+=(--duration "$DURATION")

# The flags each run of a set gets, set by BEFORE_RUN (when not empty) before every run.
TARGET=()
BEFORE_RUN=

# Runs PAIRS + 1 seeds of a profile, each judged against the one before, and prints the
# verdict counts of the PAIRS comparisons.
aa_set() {
  local label=$1 profile=$2 pairs=$3
  local out="$WORK/$label"
  mkdir -p "$out"
  local prev
  [ -z "$BEFORE_RUN" ] || "$BEFORE_RUN"
  prev=$("$PEAKGATE" run --quiet --profile "$ROOT/profiles/$profile.toml" --out "$out" \
    --seed 1000 "${EXTRA[@]}" "${TARGET[@]}" 2>>"$out/stderr" || true)
  local pass=0 warn=0 fail=0 inconclusive=0 other=0 old_warn=0 old_fail=0
  for i in $(seq 1 "$pairs"); do
    local dir
    [ -z "$BEFORE_RUN" ] || "$BEFORE_RUN"
    dir=$("$PEAKGATE" run --quiet --profile "$ROOT/profiles/$profile.toml" --out "$out" \
      --seed $((1000 + i)) --baseline "$prev" "${EXTRA[@]}" "${TARGET[@]}" 2>>"$out/stderr" || true)
    local v
    v=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' \
      "$dir/verdict.json" 2>/dev/null || echo none)
    case "$v" in
      pass) pass=$((pass + 1)) ;;
      warn) warn=$((warn + 1)) ;;
      fail) fail=$((fail + 1)) ;;
      inconclusive) inconclusive=$((inconclusive + 1)) ;;
      *) other=$((other + 1)) ;;
    esac
    # The checks that did not pass, and what the verdict would have been had each percentile
    # been judged on its point estimate (the rule before the confidence bound).
    local old
    old=$(python3 - "$dir/verdict.json" "$i" <<'PY' || echo pass
import json, sys
v = json.load(open(sys.argv[1]))
for c in v["checks"]:
    if c["status"] != "pass":
        print(f"    pair {sys.argv[2]}: {c['status']} {c['name']}: {c['message']}", file=sys.stderr)
# An inconclusive check (the load generator did not keep its plan) is none of the three.
rank = {"pass": 0, "warn": 1, "fail": 2, "inconclusive": 0}
estimates = {p["check"]: p["estimate_ms"] for p in v.get("percentiles", [])}
worst = 0
for c in v["checks"]:
    s = rank[c["status"]]
    if c["name"] in estimates:
        e = estimates[c["name"]]
        s = 2 if c["fail"] is not None and e > c["fail"] else 1 if c["warn"] is not None and e > c["warn"] else 0
    worst = max(worst, s)
print(["pass", "warn", "fail"][worst])
PY
)
    case "$old" in
      warn) old_warn=$((old_warn + 1)) ;;
      fail) old_fail=$((old_fail + 1)) ;;
    esac
    prev=$dir
  done
  printf '%-40s %3d pairs: %3d pass, %2d warn, %2d fail, %2d inconclusive, %2d no verdict (percentiles on their point estimate: %d warn, %d fail)\n' \
    "$label" "$pairs" "$pass" "$warn" "$fail" "$inconclusive" "$other" "$old_warn" "$old_fail"
}

echo "A/A pairs${DURATION:+ (every run cut to $DURATION)}:"
# A fresh PostgreSQL stand-in on a database made anew (--reset) for every run: a run posts
# orders, invoices and journal lines, and the next run's month-end report would read more of
# them. Comparing a run with one made on less data measures the data's growth, not the
# release (on month-end-close the general ledger's p95 grew 53 → 99 → 156 ms over three runs
# on one database). A staging Odoo needs the same: restore its snapshot before each run.
fresh_standin() {
  if [ -n "$STANDIN_PID" ]; then
    kill "$STANDIN_PID" 2>/dev/null || true
    wait "$STANDIN_PID" 2>/dev/null || true
  fi
  : > "$WORK/standin.out"; : > "$WORK/standin.err"
  # The sessions of the runs before, too (the Redis probe compares memory per session).
  redis-cli -u "$REDIS_URL" flushdb >/dev/null 2>&1 || true
  "$PEAKGATE" standin --backend postgres --reset --pg-url "$PG_URL/$DB" --workers "$workers" \
    --db-maxconn 4 --redis-url "$REDIS_URL" --listen 127.0.0.1:0 > "$WORK/standin.out" 2> "$WORK/standin.err" &
  STANDIN_PID=$!
  local url=
  for _ in $(seq 1 300); do
    url=$(grep -ho 'http://127\.0\.0\.1:[0-9]*' "$WORK/standin.out" "$WORK/standin.err" 2>/dev/null | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.2
  done
  [ -n "$url" ] || { echo "the PostgreSQL stand-in did not start: $(cat "$WORK/standin.err")"; exit 1; }
  TARGET=(--target "$url")
}

if [ "$PG_PAIRS" -gt 0 ]; then
  for p in $PG_PROFILES; do
    workers=${PG_WORKERS:-$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb")).get("standin", {}).get("workers", 8))' "$ROOT/profiles/$p.toml")}
    DB="peakgate_bench_verdict_$$_${p//-/_}"
    BEFORE_RUN=fresh_standin
    ODOO_PASSWORD=admin PEAKGATE_PG_URL="$PG_URL/$DB" PEAKGATE_REDIS_URL="$REDIS_URL" \
      aa_set "postgres stand-in ($workers workers), $p" "$p" "$PG_PAIRS"
    BEFORE_RUN=
    TARGET=()
    kill "$STANDIN_PID"; wait "$STANDIN_PID" 2>/dev/null || true
    STANDIN_PID=
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true
  done
fi
if [ "$MEM_PAIRS" -gt 0 ]; then
  for p in $MEM_PROFILES; do
    aa_set "memory stand-in, $p" "$p" "$MEM_PAIRS"
  done
fi
