#!/usr/bin/env bash
# bench/plot.sh - measure and draw the benchmark report's two plots:
#
#   results/throughput.png  cross-process throughput against message size,
#                           axon next to the raw pipe floor measured in the
#                           same run (axon-bench proc_stream_sized)
#   results/latency.png     round-trip latency: axon next to Erlang, CAF
#                           and gevent, from the peers' results file
#                           results/peers.jsonl (bench/peers/run writes it)
#
# Usage: bench/plot.sh [--latency | --draw] [BUILD_DIR]
#   (default build/rel; needs gnuplot-nox; --latency: only the latency
#   plot; --draw: both plots from the numbers already in results/)
# The sweep takes a few minutes; numbers go to results/size-sweep.dat.
set -euo pipefail
latency_only= draw_only=
if [ "${1:-}" = --latency ]; then latency_only=1; shift; fi
if [ "${1:-}" = --draw ]; then draw_only=1; shift; fi
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build/rel}
bench=$build/bench/axon-bench
results=$here/results
mkdir -p "$results"
command -v gnuplot >/dev/null || { echo "needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }

if [ -z "$latency_only" ]; then
sweep=$results/size-sweep.dat
if [ -z "$draw_only" ]; then
[ -x "$bench" ] || { echo "build axon-bench first: $bench" >&2; exit 1; }
echo "# size_bytes axon_MBps floor_MBps ratio   ($(date -u +%F), axon-bench --runs 3)" >"$sweep"
for size in 32 128 512 2048 8192 32768 131072 524288 2097152; do
    AXON_BENCH_SIZE=$size "$bench" --runs 3 --json proc_stream_sized |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(sys.argv[1], r["median"], r["floor_median"], r["ratio"])' "$size" >>"$sweep"
    tail -1 "$sweep"
done
fi # draw_only

gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,11"
set output "$results/throughput.png"
set title "Cross-process throughput by message size (one-way, two processes)"
set xlabel "message payload (bytes)"
set ylabel "MB/s"
set logscale x 2
set xtics ("32" 32, "128" 128, "512" 512, "2 Ki" 2048, "8 Ki" 8192, \
           "32 Ki" 32768, "128 Ki" 131072, "512 Ki" 524288, "2 Mi" 2097152)
set key top left
set grid
plot "$sweep" using 1:2 with linespoints lw 2 title "axon: actor to process actor", \
     "$sweep" using 1:3 with linespoints lw 2 dt 2 title "raw pipe, one write per message (floor)"
EOF
echo "wrote $results/throughput.png"
fi # latency_only

# --- latency: round trips, axon next to its peers (bench/peers/run) -------
peers=$results/peers.jsonl
if [ -f "$peers" ]; then
    # One bar per system: label, median (us), colour (1 axon, 2 peer, 3 floor)
    python3 - "$peers" >"$results/latency.dat" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
bars = []  # (label, median us, colour: 1 axon, 2 peer, 3 raw floor)
for w in ("inproc_pingpong", "proc_pingpong"):
    for r in (r for r in rows if r["workload"] == w):
        bars.append((r["label"], r["median"], 1 if r["system"] == "axon" else 2))
        if r.get("floor_median"):  # axon-bench's raw floor, same runs
            bars.append(("raw pipes (floor)", r["floor_median"], 3))
    if w == "inproc_pingpong":
        inproc = len(bars)
print("# %d in-process bars; from bench/peers/run, %s"
      % (inproc, rows[0]["date"] if rows else ""))
for label, v, colour in bars:
    print('"%s" %g %d' % (label, v, colour))
PY
    inproc=$(sed -n '1s/^# \([0-9]*\) .*/\1/p' "$results/latency.dat")
    when=$(sed -n '1s/.*bench\/peers\/run, //p' "$results/latency.dat")
    gnuplot <<EOF
set terminal pngcairo size 1000,620 font "sans,10"
set output "$results/latency.png"
set title "Round trip of a small message, median (lower is better); bench/peers/run, $when"
set ylabel "microseconds (log scale)"
set logscale y
set yrange [0.05:1000]
set style fill solid 0.7 border -1
set boxwidth 0.6
set xtics rotate by -30 left
set bmargin 8
set rmargin 20
set grid y
set key off
set linetype 1 lc rgb "#1f77b4"
set linetype 2 lc rgb "#ff7f0e"
set linetype 3 lc rgb "#999999"
set arrow from $inproc - 0.5, graph 0 to $inproc - 0.5, graph 1 nohead dt 2
set label "in-process (two actors, one process)" at ($inproc - 1) / 2.0, 500 center
set label "two processes, pipes" at $inproc + 1, 500 center
plot "$results/latency.dat" using 0:2:3:xtic(1) with boxes lc variable, \
     "" using 0:2:(sprintf("%.3g", \$2)) with labels offset 0,0.8
EOF
    echo "wrote $results/latency.png"
else
    echo "no $peers: run bench/peers/run (it writes it) for the latency plot"
fi
