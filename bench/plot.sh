#!/usr/bin/env bash
# bench/plot.sh - measure and draw the benchmark report's two plots:
#
#   results/throughput.png  cross-process throughput against message size,
#                           axon next to the raw pipe floor measured in the
#                           same run (axon-bench proc_stream_sized)
#   results/latency.png     round-trip latency: axon next to Erlang, CAF
#                           and gevent, from the peers' results file
#                           (bench/peers/run --json > results/peers.jsonl)
#
# Usage: bench/plot.sh [BUILD_DIR]   (default build/rel; needs gnuplot-nox)
# The sweep takes a few minutes; numbers go to results/size-sweep.dat.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/rel}
bench=$build/bench/axon-bench
results=$here/results
mkdir -p "$results"
command -v gnuplot >/dev/null || { echo "needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -x "$bench" ] || { echo "build axon-bench first: $bench" >&2; exit 1; }

sweep=$results/size-sweep.dat
echo "# size_bytes axon_MBps floor_MBps ratio   ($(date -u +%F), axon-bench --runs 3)" >"$sweep"
for size in 32 128 512 2048 8192 32768 131072 524288 2097152; do
    AXON_BENCH_SIZE=$size "$bench" --runs 3 --json proc_stream_sized |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(sys.argv[1], r["median"], r["floor_median"], r["ratio"])' "$size" >>"$sweep"
    tail -1 "$sweep"
done

gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,11"
set output "$results/throughput.png"
set title "Cross-process throughput by message size (one-way, two processes)"
set xlabel "message payload (bytes)"
set ylabel "MB/s"
set logscale x 2
set format x "%.0s%cB"
set key top left
set grid
plot "$sweep" using 1:2 with linespoints lw 2 title "axon: actor to process actor", \
     "$sweep" using 1:3 with linespoints lw 2 dt 2 title "raw pipe, one write per message (floor)"
EOF
echo "wrote $results/throughput.png"

peers=$results/peers.jsonl
if [ -f "$peers" ]; then
    python3 - "$peers" >"$results/latency.dat" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line)
        rows[r["workload"]] = r
for w in ("inproc_pingpong", "proc_pingpong"):
    r = rows.get(w)
    if r is None:
        continue
    for peer in ("axon", "erlang", "caf", "gevent"):
        v = r.get(peer)
        if v is not None:
            print(f'"{w} {peer}" {v}')
PY
    gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,11"
set output "$results/latency.png"
set title "Round trip of a small message (lower is better)"
set ylabel "microseconds (log scale)"
set logscale y
set style fill solid 0.6
set boxwidth 0.6
set xtics rotate by -30
set grid y
plot "$results/latency.dat" using 0:2:xtic(1) with boxes notitle
EOF
    echo "wrote $results/latency.png"
else
    echo "no $peers: run bench/peers/run --json > $peers for the latency plot"
fi
