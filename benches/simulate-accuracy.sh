#!/usr/bin/env bash
# Simulator accuracy on held-out settings: the per-step p95 that `peakgate simulate` predicts
# against the p95 measured by real runs on the built-in memory stand-in.
#
# 1. calibrates from one run (CAL_WORKERS workers at CAL_UTIL utilisation for CAL_SECONDS s;
#    default 2 workers at 50%, where about a third of the requests wait for a worker);
# 2. for each held-out setting (workers:utilisation pairs in SETTINGS, default 4 workers at 80%,
#    2 at 75%, 6 at 85%, 3 at 70%), runs the same profile for real (RUN_SECONDS s each, default
#    20) and simulates it from the calibration once per service-time source in SOURCES (default
#    `auto latency`: Odoo's request log, which the stand-in keeps in the run folder, and the
#    latency as measured, queueing included, which is what the simulator used before);
# 3. prints one row per setting, step and source: measured p95, simulated p95, error.
#
# Utilisation = journeys/s × mean service per journey / workers. The stand-in's laws are
# lognormal (SHOP_MEDIAN/SHOP_P99 for /shop, CART_MEDIAN/CART_P99 for /shop/cart, ms; default
# 100/110 and 50/55): long against the scheduling noise of a shared 2-core machine (about a
# millisecond) and narrow, so a run's queueing comes from its Poisson arrivals, which the
# simulation replays exactly (same profile, same SEED). Takes about RUN_SECONDS × settings +
# CAL_SECONDS s plus the build; PEAKGATE=path uses that binary instead of the release build.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CAL_WORKERS=${CAL_WORKERS:-2}
CAL_UTIL=${CAL_UTIL:-0.50}
CAL_SECONDS=${CAL_SECONDS:-15}
RUN_SECONDS=${RUN_SECONDS:-20}
SETTINGS=${SETTINGS:-"4:0.80 2:0.75 6:0.85 3:0.70"}
SOURCES=${SOURCES:-"auto latency"}
SEED=${SEED:-13}
# The stand-in's service laws (lognormal, median and p99, ms).
SHOP_MEDIAN=${SHOP_MEDIAN:-100}; SHOP_P99=${SHOP_P99:-110}
CART_MEDIAN=${CART_MEDIAN:-50}; CART_P99=${CART_P99:-55}
# Mean service per journey, s: a lognormal's mean is median × e^(σ²/2), σ = ln(p99/median)/z99.
MEAN_S=$(python3 -c "
import math
z = 2.326347874
m = lambda med, p99: med * math.exp((math.log(p99 / med) / z) ** 2 / 2)
print(round((m($SHOP_MEDIAN, $SHOP_P99) + m($CART_MEDIAN, $CART_P99)) / 1000, 6))")

if [ -z "${PEAKGATE:-}" ]; then
  (cd "$ROOT" && cargo build --release -q)
  PEAKGATE="$ROOT/target/release/peakgate"
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/scenarios" "$WORK/profiles"
cat > "$WORK/scenarios/browse.toml" <<'TOML'
description = "shop page, then the cart"
session = "none"

[[step]]
name = "shop"
http = "/shop"
think = "100ms"

[[step]]
name = "cart"
http = "/shop/cart"
TOML
cat > "$WORK/profiles/standin.toml" <<TOML
[service]
"/shop" = { median = "${SHOP_MEDIAN}ms", p99 = "${SHOP_P99}ms" }
"/shop/cart" = { median = "${CART_MEDIAN}ms", p99 = "${CART_P99}ms" }
TOML
profile() { # name workers utilisation seconds
  local rate
  rate=$(python3 -c "print(round($3 * $2 / $MEAN_S, 3))")
  cat > "$WORK/profiles/$1.toml" <<TOML
name = "browse"
environment = "test"
scenarios_dir = "../scenarios"
[load]
arrivals = "poisson"
[[load.stage]]
duration = "${4}s"
rate = $rate
[mix]
browse = 1
[standin]
workers = $2
config = "standin.toml"
TOML
  echo "$WORK/profiles/$1.toml"
}

CAL=$("$PEAKGATE" run --quiet --seed "$SEED" --profile "$(profile cal "$CAL_WORKERS" "$CAL_UTIL" "$CAL_SECONDS")" --out "$WORK/runs")
echo "calibration: $CAL_WORKERS workers at $CAL_UTIL utilisation, ${CAL_SECONDS}s"
printf '%-22s %-12s %-18s %12s %12s %8s\n' setting step source measured simulated error
for s in $SETTINGS; do
  w=${s%%:*}; u=${s##*:}
  P=$(profile "w$w" "$w" "$u" "$RUN_SECONDS")
  REAL=$("$PEAKGATE" run --quiet --seed "$SEED" --profile "$P" --out "$WORK/runs")
  for src in $SOURCES; do
    SIM=$("$PEAKGATE" simulate --quiet --seed "$SEED" --profile "$P" --from "$CAL" --service-times "$src" \
      --calibration-workers "$CAL_WORKERS" --out "$WORK/sims" 2>/dev/null)
    python3 - "$REAL/run.json" "$SIM/run.json" "$w workers at $u" "$src" <<'PY'
import json, sys
real, sim = (json.load(open(p)) for p in sys.argv[1:3])
for step in ("browse/shop", "browse/cart"):
    m = real["transactions"][step]["latency_ms"]["p95"]
    p = sim["transactions"][step]["latency_ms"]["p95"]
    print(f"{sys.argv[3]:<22} {step:<12} {sys.argv[4]:<18} {m:9.1f} ms {p:9.1f} ms {100 * (p - m) / m:+7.1f}%")
PY
  done
done
