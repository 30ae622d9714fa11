#!/usr/bin/env bash
# Flat vs hierarchical at equal training time (docs/model.md): the same data, started together and
# run side by side for the same wall time, one thread each at the same nice, so the machine's load
# falls on both alike; each run's CPU seconds (utime+stime) are logged every 30 s to check that.
#   bash scripts/hier_vs_flat_equal_time.sh [OUT_DIR=runs/equal-time] [MINUTES=20]
# then `livegen eval --model OUT_DIR/compare-flat/checkpoint.pt --data OUT_DIR/pop909 --split test`
# (and compare-hier) for the table.
set -u
cd "$(dirname "$0")/.."
out=${1:-runs/equal-time}
minutes=${2:-20}
mkdir -p "$out"
if [ ! -f "$out/pop909/manifest.json" ]; then
  nice -n 10 .venv/bin/livegen data prepare --source pop909=../shared/corpus/pop909/midi \
    --out "$out/pop909" --no-structure-tokens
fi
echo "start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/equal.log"
pids=()
for kind in flat hier; do
  nice -n 10 .venv/bin/livegen train --config "configs/train/compare-$kind.toml" \
    --data "$out/pop909" --out "$out/compare-$kind" --set run.progress=false \
    --set "run.max_minutes=$minutes" > "$out/train-$kind.log" 2>&1 &
  pids+=($!)
done
while kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; do
  for i in 0 1; do
    stat=/proc/${pids[$i]}/stat
    [ -r "$stat" ] && echo "$(date -u +%T) $([ $i = 0 ] && echo flat || echo hier) $(awk '{print ($14+$15)/100}' "$stat") CPU-s" >> "$out/equal-cpu.log"
  done
  sleep 30
done
echo "end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/equal.log"
tail -2 "$out/equal-cpu.log"
