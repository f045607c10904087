#!/usr/bin/env bash
# Simulator benchmark: how long `peakgate simulate` takes for a 30-minute profile at 1,000
# journeys/s (1.8 million journeys of the shipped scenarios), and its events per second.
#
# 1. calibrates from a real 15 s run of profiles/smoke.toml against the built-in stand-in;
# 2. simulates a 30-minute open-model profile at a constant RATE journeys/s (default 1000) with
#    smoke's scenario mix on WORKERS workers (default 400: enough for the offered load, so the
#    figures measure the simulator, not an ever-growing queue);
# 3. prints the wall time, the events processed and events per second, from the simulated
#    run.json (`simulation.wall_s`, `simulation.events`) and /usr/bin/time's peak RSS.
# Takes about a minute after the release build.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RATE=${RATE:-1000}
WORKERS=${WORKERS:-400}
MINUTES=${MINUTES:-30}

(cd "$ROOT" && cargo build --release -q)
PEAKGATE="$ROOT/target/release/peakgate"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

CAL=$("$PEAKGATE" run --quiet --profile "$ROOT/profiles/smoke.toml" --out "$WORK/cal")
cat > "$WORK/peak.toml" <<TOML
name = "simulate-bench"
environment = "test"
scenarios_dir = "$ROOT/scenarios"
[load]
arrivals = "poisson"
max_in_flight = 1000000
[[load.stage]]
duration = "${MINUTES}m"
rate = $RATE
[mix]
pos_order_sync = 5
ecommerce_cart = 3
backoffice_sale = 2
TOML

TIME=()
[ -x /usr/bin/time ] && TIME=(/usr/bin/time -f "%M")
START=$(date +%s.%N)
"${TIME[@]}" "$PEAKGATE" simulate --quiet --profile "$WORK/peak.toml" --from "$CAL" \
  --workers "$WORKERS" --out "$WORK/sim" > "$WORK/dir" 2> "$WORK/time"
END=$(date +%s.%N)
SIM=$(cat "$WORK/dir")
python3 - "$SIM/run.json" "$START" "$END" "$WORK/time" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["simulation"]
rss = open(sys.argv[4]).read().strip().splitlines()
rss = rss[-1] if rss and rss[-1].isdigit() else None
t = r["totals"]
print(f"profile        {r['plan']['stages'][0]['duration_s'] / 60:.0f} min at {r['plan']['stages'][0]['from']:.0f} journeys/s, {s['workers']} workers")
print(f"journeys       {t['journeys']} ({t['dropped']} dropped), requests {t['requests']}")
print(f"simulation     {s['wall_s']:.2f} s wall, {s['events']} events, {s['events_per_s']:,.0f} events/s")
print(f"whole command  {float(sys.argv[3]) - float(sys.argv[2]):.2f} s (profile load, calibration read, artifacts)")
if rss:
    print(f"peak RSS       {int(rss) / 1024:.0f} MiB")
PY
