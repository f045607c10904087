#!/usr/bin/env bash
# Report benchmark: how long `peakgate report` takes on a 2-hour run, and how big the page is.
# Runs the smoke profile for a few seconds, then stretches its timeline (and every probe-less
# series) to 7,200 one-second entries by repeating the measured seconds, and times the
# regeneration of report.html, its PNG charts and summary.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_LONG=${SECONDS_LONG:-7200}
(cd "$ROOT" && cargo build --release -q)
PEAKGATE="$ROOT/target/release/peakgate"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DIR=$("$PEAKGATE" run --quiet --profile "$ROOT/profiles/smoke.toml" --duration 6s --out "$WORK")
python3 - "$DIR/run.json" "$SECONDS_LONG" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
r = json.load(open(path))
src = [e for e in r["timeline"] if e["requests"] > 0] or r["timeline"]
r["timeline"] = [dict(src[i % len(src)], t=i) for i in range(n)]
r["duration_s"] = float(n)
json.dump(r, open(path, "w"))
PY
START=$(date +%s.%N)
"$PEAKGATE" report "$DIR" >/dev/null
END=$(date +%s.%N)
python3 - "$START" "$END" "$DIR" "$SECONDS_LONG" <<'PY'
import os, sys
start, end, d, n = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
size = lambda f: os.path.getsize(os.path.join(d, f))
print(f"report of a {n} s timeline: {end - start:.2f} s to write report.html ({size('report.html') / 1024:.0f} KiB), "
      f"chart-load.png ({size('chart-load.png') / 1024:.0f} KiB), chart-latency.png ({size('chart-latency.png') / 1024:.0f} KiB), summary.md")
PY
