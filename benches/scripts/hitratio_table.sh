#!/bin/sh
# Usage: hitratio_table.sh OUTFILE [extra hitratio args...]  — replays the 15 traces of the issue's 45-row table.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${HITRATIO:-${CARGO_TARGET_DIR:-$ROOT/target}/release/hitratio}
D=${EMBER_DATA:-$ROOT/../shared/data}/cache-traces
OUT=$1; shift
: > "$OUT"
first=1
for t in $D/arc/OLTP.lis.zst $D/arc/P3.lis.zst $D/arc/P6.lis.zst $D/arc/P12.lis.zst \
         $D/cache2k/orm-busy.trace.xz $D/cache2k/web12.trace.xz $D/misc/scarab-recs.trace.xz \
         $D/misc/corda-vaultservice.trace.gz $D/misc/cloudphysics-w106.trace.xz $D/lirs/sprite.trace.gz \
         $D/lirs/multi3.trace.gz $D/lirs/loop.trace.gz $D/lirs/2_pools.trace.gz zipf:0.9 zipf:1.1; do
  if [ $first = 1 ]; then "$BIN" --trace "$t" "$@" >> "$OUT"; first=0
  else "$BIN" --trace "$t" "$@" | tail -n +2 >> "$OUT"; fi
done
