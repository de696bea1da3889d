#!/bin/sh
# Usage: hitratio_heldout.sh OUTFILE [extra hitratio args...] — replays the 12 traces of cache-traces/ that the
# issue's 45-row table (hitratio_table.sh) does not use, as a check that policy changes tuned on that table
# generalize. Same conventions as hitratio_table.sh (HITRATIO or CARGO_TARGET_DIR, EMBER_DATA).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${HITRATIO:-${CARGO_TARGET_DIR:-$ROOT/target}/release/hitratio}
D=${EMBER_DATA:-$ROOT/../shared/data}/cache-traces
OUT=$1; shift
: > "$OUT"
first=1
for t in $D/arc/P2.lis.zst $D/cache2k/orm-night.trace.xz $D/cache2k/web07.trace.xz $D/lirs/backf.trace.gz \
         $D/lirs/cpp.trace.gz $D/lirs/cs.trace.gz $D/lirs/gli.trace.gz $D/lirs/multi1.trace.gz \
         $D/lirs/multi2.trace.gz $D/lirs/ps.trace.gz $D/lirs/scan.trace.gz $D/lirs/zigzag.trace.gz; do
  if [ $first = 1 ]; then "$BIN" --trace "$t" "$@" >> "$OUT"; first=0
  else "$BIN" --trace "$t" "$@" | tail -n +2 >> "$OUT"; fi
done
