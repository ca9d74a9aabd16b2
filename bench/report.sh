#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# report.sh — `make bench-report`: runs pagebus-bench's standard suite (JSON lines under
# $BUILD/bench-report/), profiles the goals with perf, and writes docs/benchmarks.md and
# the gnuplot PNGs in docs/img/. RUNS=N sets the repetitions (3); about 10 min on 2 cores.
# BENCH_ARGS (e.g. --quick) is added to every run and PERF=0 skips the profiles: for
# trying the script, not for the committed report. STAGES picks what to do of "runs perf
# render" (all three by default; "render" alone rewrites the page and the plots from the
# results left in $BUILD/bench-report).
set -euo pipefail

BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
BENCH=$BUILD/pagebus-bench
OUT=$BUILD/bench-report
DOC=docs/benchmarks.md
IMG=docs/img
mkdir -p "$OUT" "$IMG"

[ -x "$BENCH" ] || { echo "report.sh: $BENCH missing: run make first" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "report.sh: gnuplot missing: run make bench-deps" >&2; exit 1; }

t_start=$(date +%s)
say() { echo "report.sh: $* ($(($(date +%s) - t_start)) s)" >&2; }

# run NAME ARGS...: one pagebus-bench invocation, its command kept for the report
run() {
	local name=$1
	shift
	say "pagebus-bench $*"
	echo "build/pagebus-bench $* --json" >>"$OUT/commands.txt"
	# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
	"$BENCH" "$@" ${BENCH_ARGS:-} --json >"$OUT/$name.jsonl"
}

STAGES=${STAGES:-runs perf render}
stage() { case " $STAGES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if stage runs; then
rm -f "$OUT"/*.jsonl "$OUT"/*.tsv "$OUT"/commands.txt "$OUT"/elapsed-runs
cut -d' ' -f1-3 /proc/loadavg >"$OUT/load-before"
run limits limits
run append append --acks appended --runs "$RUNS"
run append-acks append --producers 1 --acks none,durable --runs "$RUNS"
run latency latency --runs "$RUNS"
run fanout fanout --runs "$RUNS"
run catchup catchup --runs "$RUNS"
run remote remote --runs "$RUNS"
run recovery recovery --runs "$RUNS"
echo $(($(date +%s) - t_start)) >"$OUT/elapsed-runs"
cut -d' ' -f1-3 /proc/loadavg >"$OUT/load-after"
fi

# ---- profiles of the goals: system-wide, then the processes of the bus ----------------
t_perf=$(date +%s)
PERF_OK=0
if [ "${PERF:-1}" != 0 ] && command -v perf >/dev/null && perf record -q -o "$OUT/probe.data" -a -- true >/dev/null 2>&1; then
	PERF_OK=1
fi
# profile NAME ARGS...: perf record -a around one pagebus-bench run, top symbols
profile() {
	local name=$1
	shift
	say "perf: pagebus-bench $*"
	echo "perf record -a -F 1999 -- build/pagebus-bench $* --no-peers --no-limits" >>"$OUT/commands.txt"
	perf record -q -a -F 1999 -o "$OUT/$name.data" -- "$BENCH" "$@" --no-peers --no-limits >/dev/null 2>&1 || true
	perf report -i "$OUT/$name.data" --no-children --sort comm,dso,symbol --stdio 2>/dev/null |
		awk 'n < 14 && /^ *[0-9.]+%/ && ($2 ~ /^(pagebusd|pagebus-bench|iou-wrk|swapper)/) {
			c = $2; sub(/-[0-9]+$/, "", c); if (c == "swapper") c = "idle (swapper)";
			sym = ""; for (i = 5; i <= NF; i++) sym = sym (i > 5 ? " " : "") $i;
			sub(/( -)+$/, "", sym);
			printf "| %s | %s | `%s` | %s |\n", $1, c, $3, sym; n++ }' \
			>"$OUT/$name.perf.md"
	rm -f "$OUT/$name.data" "$OUT/$name.data.old"
}
if stage perf && [ "$PERF_OK" = 1 ]; then
	rm -f "$OUT"/*.perf.md
	sed -i '/^perf record/d' "$OUT/commands.txt" 2>/dev/null || true
	profile perf-append append --producers 1 --sizes 65536 --acks appended --seconds 2
	profile perf-latency latency --modes spin --rates 100k --seconds 2
	# written once, read 10 times: the profile is mostly the reading
	profile perf-catchup catchup --consumers 1 --size 512M --runs 5
	profile perf-remote remote --size 256M --runs 5
fi
rm -f "$OUT/probe.data" "$OUT/probe.data.old"
stage perf && echo $(($(date +%s) - t_perf)) >"$OUT/elapsed-perf"
stage render || exit 0
PERF_OK=0
ls "$OUT"/perf-*.perf.md >/dev/null 2>&1 && PERF_OK=1

# ---- JSON lines to tables ---------------------------------------------------------------
# jq-free: pagebus-bench writes flat objects whose strings hold no quotes or commas.
AWK_LIB='
function get(k,   r) {
	if (!match($0, "\"" k "\":(\"[^\"]*\"|[^,}]*)")) return ""
	r = substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3)
	gsub(/"/, "", r)
	return r
}
function param(k,   p) {
	p = " " get("params") " "
	if (!match(p, " " k "=[^ ]*")) return ""
	return substr(p, RSTART + length(k) + 2, RLENGTH - length(k) - 2)
}
function si(v) {
	if (v == "" || v == "null") return "–"
	v += 0
	if (v >= 1e9) return sprintf("%.2f G", v / 1e9)
	if (v >= 1e6) return sprintf("%.2f M", v / 1e6)
	if (v >= 1e4) return sprintf("%.1f k", v / 1e3)
	if (v >= 100) return sprintf("%.0f", v)
	if (v >= 10) return sprintf("%.1f", v)
	return sprintf("%.3g", v)
}
function ratio(v) { return (v == "" || v == "null") ? "–" : sprintf("%.2f", v) }
function spread() {
	if (get("runs") < 2 || get("headline_min") == "null") return "–"
	return si(get("headline_min")) "–" si(get("headline_max"))
}
'
# table FILE HEADER FORMAT: one markdown row per JSON line, FORMAT an awk expression list
table() {
	local file=$1 header=$2 row=$3
	echo "$header"
	echo "$header" | sed -e 's/[^|]*|/---|/g' -e 's/^---|/|/' -e 's/---|$/---|/'
	awk "$AWK_LIB"'
		get("status") != "ok" { printf "| %s | %s |\n", get("params"), get("status"); next }
		{ print '"$row"' }' "$OUT/$file.jsonl"
}

# ---- data for the plots -----------------------------------------------------------------
awk "$AWK_LIB"'get("status") == "ok" {
	print param("producers"), param("value"), get("mb_per_s"), get("limit_value"), get("peer_value"), get("peer2_value")
}' "$OUT/append.jsonl" | sort -k1,1n -k2,2n >"$OUT/append.tsv"
awk "$AWK_LIB"'get("status") == "ok" && param("mode") !~ /pingpong/ {
	print param("mode"), param("rate"), get("p50_us"), get("p90_us"), get("p99_us"), get("p999_us"), get("p9999_us"), get("max_us"), get("peer_value")
}' "$OUT/latency.jsonl" >"$OUT/latency.tsv"
# iceoryx is measured in the limits run only (its RouDi is one per machine)
awk "$AWK_LIB"'FILENAME ~ /limits/ { w = param("what"); if (w ~ /^iceoryx-pubsub-/ && get("status") == "ok") {
		sub(/^iceoryx-pubsub-/, "", w); iox[w] = get("msgs_per_s") } next }
	get("status") == "ok" && param("producers") == 1 {
	v = param("value"); r = get("peer_value"); z = get("peer2_value")
	printf "%s %s %s %s %s\n", v, get("msgs_per_s"), r == "null" ? "NaN" : r * 1e6 / v, z == "null" ? "NaN" : z * 1e6 / v,
		(v in iox) ? iox[v] : "NaN"
}' "$OUT/limits.jsonl" "$OUT/append.jsonl" | sort -n >"$OUT/peers.tsv"

gnuplot <<EOF
set terminal pngcairo size 900,560 font "DejaVu Sans,11"
set key top left
set grid
set logscale xy
set xlabel "value size (bytes)"

set output "$IMG/throughput-vs-value-size.png"
set title "append: MB/s of values vs value size (acks=appended; median of $RUNS runs)"
set ylabel "MB/s"
set xtics ("16" 16, "64" 64, "256" 256, "1 KiB" 1024, "64 KiB" 65536)
plot "$OUT/append.tsv" using (\$1 == 1 ? \$2 : NaN):3 with linespoints lw 2 title "pagebus, 1 producer", \
     "" using (\$1 == 2 ? \$2 : NaN):3 with linespoints lw 2 title "pagebus, 2 producers", \
     "" using (\$1 == 4 ? \$2 : NaN):3 with linespoints lw 2 title "pagebus, 4 producers", \
     "" using (\$1 == 1 ? \$2 : NaN):4 with linespoints dt 2 lw 2 title "limit: write(2) per value", \
     "" using (\$1 == 1 ? \$2 : NaN):5 with linespoints dt 3 lw 2 title "Redis XADD (pipelined)", \
     "" using (\$1 == 1 ? \$2 : NaN):6 with linespoints dt 4 lw 2 title "ZeroMQ PUSH/PULL ipc://"

set output "$IMG/pagebus-vs-peers.png"
set title "messages/s by value size: pagebus (1 producer) vs peers, one report run"
set ylabel "messages/s"
set format y "%.0s%c"
set key bottom left
plot "$OUT/peers.tsv" using 1:2 with linespoints lw 2 title "pagebus append", \
     "" using 1:3 with linespoints lw 2 title "Redis Streams XADD", \
     "" using 1:4 with linespoints lw 2 title "ZeroMQ PUSH/PULL", \
     "" using 1:5 with linespoints lw 2 title "iceoryx publish/subscribe (zero copy)"

set output "$IMG/latency-vs-rate.png"
set title "end-to-end latency vs offered rate (64 B, open loop, CO-corrected)"
set xlabel "offered rate (messages/s)"
set ylabel "latency (µs)"
set format y "%g"
set xrange [7000:1400000]
set xtics ("10k" 10000, "100k" 100000, "1M" 1000000)
set key top left
plot "$OUT/latency.tsv" using (strcol(1) eq "spin" ? \$2 : NaN):3 with linespoints lw 2 lc 1 title "busy-spin p50", \
     "" using (strcol(1) eq "spin" ? \$2 : NaN):5 with linespoints lw 2 lc 1 dt 2 title "busy-spin p99", \
     "" using (strcol(1) eq "spin" ? \$2 : NaN):6 with linespoints lw 2 lc 1 dt 3 title "busy-spin p99.9", \
     "" using (strcol(1) eq "sleep" ? \$2 : NaN):3 with linespoints lw 2 lc 2 title "sleeping p50", \
     "" using (strcol(1) eq "sleep" ? \$2 : NaN):5 with linespoints lw 2 lc 2 dt 2 title "sleeping p99", \
     "" using (strcol(1) eq "sleep" ? \$2 : NaN):6 with linespoints lw 2 lc 2 dt 3 title "sleeping p99.9", \
     "" using (strcol(1) eq "sleep" ? \$2 : NaN):9 with linespoints lw 2 lc 3 title "Redis XADD→XREAD p50"
EOF

# ---- the goals ----------------------------------------------------------------------------
# goal ROWS: measured value, goal, how far, from the JSON lines
goals() {
	cat "$OUT"/*.jsonl | awk "$AWK_LIB"'
	function row(goal, measured, target, ok, how) {
		printf "| %s | %s | %s | %s |\n", goal, measured, target, ok ? "**met**" : "short: " how
	}
	get("status") != "ok" { next }
	get("scenario") == "append" && param("producers") == 1 && param("acks") == "appended" {
		v = param("value")
		if (v == 64) a64 = get("msgs_per_s") + 0
		if (v == 65536) w64k = get("ratio_to_limit") + 0
		if (get("ratio_to_peer") != "null") peer[v] = get("ratio_to_peer") + 0
	}
	get("scenario") == "latency" && param("rate") == 100000 && param("mode") == "spin" {
		s50 = get("p50_us") + 0; s999 = get("p999_us") + 0
	}
	get("scenario") == "latency" && param("rate") == 100000 && param("mode") == "sleep" {
		z50 = get("p50_us") + 0; zlim = get("limit_value") + 0
	}
	get("scenario") == "catchup" && param("consumers") == 1 && param("crc") == "on" { cu = get("ratio_to_limit") + 0; cug = get("gb_per_s"); cul = get("limit_value") }
	get("scenario") == "catchup" && param("consumers") == 1 && param("crc") == "off" { cuoff = get("ratio_to_limit") + 0 }
	get("scenario") == "remote" && param("path") == "splice" { rm = get("ratio_to_limit") + 0; rmv = get("mb_per_s"); rml = get("limit_value") }
	END {
		print "| goal | measured | target | status |"
		print "|---|---|---|---|"
		if (a64 != "") row("append, 64 B, 1 producer, acks=appended", si(a64) " msgs/s", "≥ 10 M msgs/s", a64 >= 1e7, sprintf("%.1f× below", 1e7 / a64))
		if (w64k != "") row("append, 64 KiB values vs `write(2)` of 64 KiB", sprintf("%.0f %%", w64k * 100), "≥ 50 %", w64k >= 0.5, sprintf("%.1f× below", 0.5 / w64k))
		if (s50 != "") row("latency, busy-spin consumer, 64 B at 100 k/s: p50", si(s50) " µs", "≤ 5 µs", s50 <= 5, sprintf("%.0f× above", s50 / 5))
		if (s999 != "") row("latency, busy-spin consumer, 64 B at 100 k/s: p99.9", si(s999) " µs", "≤ 50 µs", s999 <= 50, sprintf("%.0f× above", s999 / 50))
		if (z50 != "") row("latency, sleeping consumer, 64 B at 100 k/s: p50 vs futex RTT (" si(zlim) " µs)", sprintf("%s µs = %.1f× RTT", si(z50), z50 / zlim), "≤ 2× RTT", z50 <= 2 * zlim, sprintf("%.1f× above", z50 / (2 * zlim)))
		if (cu != "") row("catchup, 1 consumer (CRC checked) vs memcpy (" si(cul) " GB/s)", sprintf("%s GB/s = %.0f %%", si(cug), cu * 100), "≥ 50 %", cu >= 0.5, sprintf("%.1f× below (CRC off: %.0f %%)", 0.5 / cu, cuoff * 100))
		if (rm != "") row("remote Fetch (splice) vs sendfile to a loopback socket (" si(rml) " MB/s)", sprintf("%s MB/s = %.0f %%", si(rmv), rm * 100), "≥ 80 %", rm >= 0.8, sprintf("%.1f× below", 0.8 / rm))
		n = split("16 64 256 1024 65536", vs, " ")
		for (i = 1; i <= n; i++)
			if (vs[i] in peer)
				row("append vs Redis XADD, " vs[i] " B values", sprintf("%.1f×", peer[vs[i]]), "≥ 10×", peer[vs[i]] >= 10, sprintf("%.1f× short", 10 / peer[vs[i]]))
	}'
}

# ---- docs/benchmarks.md ------------------------------------------------------------------
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
fs=$(df -PT "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $2 }')
redis_v=$(redis-server --version 2>/dev/null | sed -n 's/.*v=\([0-9.]*\).*/\1/p')
zmq_v=$(dpkg-query -W -f='${Version}' libzmq3-dev 2>/dev/null || true)
iox_v=$(dpkg-query -W -f='${Version}' libiceoryx-binding-c-dev 2>/dev/null || true)
elapsed=$(($(cat "$OUT/elapsed-runs" 2>/dev/null || echo 0) + $(cat "$OUT/elapsed-perf" 2>/dev/null || echo 0)))

{
cat <<EOF
# Benchmarks

Every number here was measured on the project's machine, which is shared and noisy: each
result is the **median of $RUNS runs** (the headline's min–max is in the *spread*
column), and each headline is printed next to a **limit of the machine and the peers,
measured in the same run**, as ratios — they drift far less than absolute numbers.
Regenerate this page (text, tables and plots) with \`make bench-report\` (this run took
$((elapsed / 60)) min); the storage-core section at the end is kept as written.

- **Date**: $(date -u +%Y-%m-%d) · **machine**: $(nproc) vCPU (${cpu:-unknown CPU}), $mem,
  kernel $(uname -r), temp dirs on $fs · **load average** (1, 5, 15 min) before the runs
  $(cat "$OUT/load-before" 2>/dev/null || echo unknown), after $(cat "$OUT/load-after" 2>/dev/null || echo unknown):
  other work shared the machine, so read the ratios rather than the absolute numbers
- **Peers**: Redis ${redis_v:-missing} (a private \`redis-server\` on a Unix socket, no
  persistence), ZeroMQ ${zmq_v:-missing} (\`ipc://\`), iceoryx ${iox_v:-missing} (its
  RouDi daemon started for the limits run); a peer that is not installed shows as missing
  (\`make bench-deps\` installs them)
- **Tool**: \`pagebus-bench SCENARIO [options] [--json]\` (\`pagebus-bench --help\`); each
  scenario starts its own \`pagebusd\` on a temp dir and forks its client processes.

Commands of this run:

\`\`\`
$(cat "$OUT/commands.txt")
\`\`\`

## Goals (issue 6, section 5)

$(goals)

Where a goal is missed, [what the profiles show](#where-the-time-goes) says what is in
the way.

## The machine's limits (same run)

$(table limits "| what | value | unit |" '"| " param("what") " | " (get("headline") == "p50_us" ? si(get("p50_us")) : get("headline") == "msgs_per_s" ? si(get("msgs_per_s")) : si(get("mb_per_s"))) " | " (get("headline") == "p50_us" ? "µs (median RTT)" : get("headline") == "msgs_per_s" ? "msgs/s" : "MB/s") " |"')

The write(2) rows write one value per call (the naive per-message append), the
round trips are between two processes pinned to different CPUs, and the
Redis/ZeroMQ/iceoryx rows are the peers' raw rates at the value sizes of the append
scenario. iceoryx passes each value as a shared-memory chunk the publisher writes and a
busy-polling subscriber takes and releases (touching one byte of it, no checksum, nothing
lost: the publisher waits for a slow subscriber); it is the zero-copy IPC reference, with
no log, no offsets and no durability.

## append

N producer processes append to one partition through their shared-memory rings;
msgs/s and MB/s of values from the start to the last ack. Limit: \`write(2)\` of one
value per call to a file in the same run; peers: Redis \`XADD\` (64 pipelined) and ZeroMQ
PUSH/PULL, in MB/s of values. The append path's own studies (verify.crc on and off, futex vs
eventfd doorbells) are in [benchmarks-append-path.md](benchmarks-append-path.md).

![throughput vs value size](img/throughput-vs-value-size.png)

![pagebus vs peers](img/pagebus-vs-peers.png)

$(table append "| params | msgs/s | MB/s | limit MB/s | /limit | Redis MB/s | /Redis | ZeroMQ MB/s | /ZeroMQ | broker CPU s per M msgs | broker peak RSS MB | MB/s spread |" '"| " get("params") " | " si(get("msgs_per_s")) " | " si(get("mb_per_s")) " | " si(get("limit_value")) " | " ratio(get("ratio_to_limit")) " | " si(get("peer_value")) " | " ratio(get("ratio_to_peer")) " | " si(get("peer2_value")) " | " ratio(get("ratio_to_peer2")) " | " si(get("broker_cpu_s_per_mmsg")) " | " si(get("broker_peak_rss_mb")) " | " spread() " |"')
$(table append-acks "| params | msgs/s | MB/s | limit MB/s | /limit | Redis MB/s | /Redis | ZeroMQ MB/s | /ZeroMQ | broker CPU s per M msgs | broker peak RSS MB | MB/s spread |" '"| " get("params") " | " si(get("msgs_per_s")) " | " si(get("mb_per_s")) " | " si(get("limit_value")) " | " ratio(get("ratio_to_limit")) " | " si(get("peer_value")) " | " ratio(get("ratio_to_peer")) " | " si(get("peer2_value")) " | " ratio(get("ratio_to_peer2")) " | " si(get("broker_cpu_s_per_mmsg")) " | " si(get("broker_peak_rss_mb")) " | " spread() " |"' | tail -n +3)

## latency

One producer sends 64-byte values on a fixed schedule (open loop); every value carries
the time it was **due**, so a stall is charged to every message it delays
(coordinated-omission correction by construction). A *spin* consumer busy-polls, a
*sleep* consumer waits on the partition's futex at once. *Ping-pong* keeps one message
in flight between two processes and records round trips with HdrHistogram's
expected-interval correction. /limit = p50 ÷ the cache-line (spin) or futex (sleep)
round trip; /peer = p50 ÷ Redis \`XADD\`→\`XREAD BLOCK\` p50 at the same rate (Redis is
not asked for 1 M/s: unpipelined it cannot follow that schedule) or ÷ ZeroMQ REQ/REP.

![latency vs rate](img/latency-vs-rate.png)

$(table latency "| params | p50 µs | p90 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | limit | limit µs | p50/limit | peer | peer µs | p50/peer | ZeroMQ RTT/2 µs | broker CPU s per M msgs | p50 spread |" '"| " get("params") " | " si(get("p50_us")) " | " si(get("p90_us")) " | " si(get("p99_us")) " | " si(get("p999_us")) " | " si(get("p9999_us")) " | " si(get("max_us")) " | " get("limit_name") " | " si(get("limit_value")) " | " ratio(get("ratio_to_limit")) " | " get("peer") " | " si(get("peer_value")) " | " ratio(get("ratio_to_peer")) " | " si(get("peer2_value")) " | " si(get("broker_cpu_s_per_mmsg")) " | " spread() " |"')

## fanout

One producer floods one partition for a second; 1, 2, 4, 8 consumer processes read
every message (default spin of 50 µs, then the futex). Rates are per consumer; latency
is from send to read under that saturation (one message in 16 is stamped). Limit:
memcpy; peers: one Redis \`XREAD\` consumer of a written stream, ZeroMQ PUSH/PULL.

$(table fanout "| params | msgs/s per consumer | MB/s per consumer | p50 µs | p99 µs | p99.9 µs | memcpy MB/s | /limit | Redis XREAD MB/s | /Redis | ZeroMQ MB/s | /ZeroMQ | broker CPU s per M msgs | spread |" '"| " get("params") " | " si(get("msgs_per_s")) " | " si(get("mb_per_s")) " | " si(get("p50_us")) " | " si(get("p99_us")) " | " si(get("p999_us")) " | " si(get("limit_value")) " | " ratio(get("ratio_to_limit")) " | " si(get("peer_value")) " | " ratio(get("ratio_to_peer")) " | " si(get("peer2_value")) " | " ratio(get("ratio_to_peer2")) " | " si(get("broker_cpu_s_per_mmsg")) " | " spread() " |"')

## catchup

Consumers read an already-written 2 GiB log (1 KiB values) from the page cache,
touching every value; with CRC-32C verification (the default) and without. GB/s of
values per consumer against memcpy in the same run.

$(table catchup "| params | GB/s per consumer | msgs/s | memcpy GB/s | /limit | Redis XREAD GB/s | /Redis | broker CPU s per M msgs | spread |" '"| " get("params") " | " si(get("gb_per_s")) " | " si(get("msgs_per_s")) " | " si(get("limit_value")) " | " ratio(get("ratio_to_limit")) " | " si(get("peer_value")) " | " ratio(get("ratio_to_peer")) " | " si(get("broker_cpu_s_per_mmsg")) " | " spread() " |"')

## remote

A Kafka Fetch v4 client (\`bench/bench_kafka.c\`, one loopback connection, 8 MiB per
response) reads a 512 MiB log of 1 KiB values written beforehand, with the broker's
Fetch splicing from the segment (\`splice\`) or copying through user space
(\`--kafka.fetch.copy true\`). Limits: \`sendfile\` and \`pread\`+\`write\` of a page-cached
file to a loopback socket, same run. Broker CPU per million 1 KiB messages is about its
CPU seconds per GB.

$(table remote "| params | MB/s | msgs/s | limit | limit MB/s | /limit | broker CPU s per M msgs | spread |" '"| " get("params") " | " si(get("mb_per_s")) " | " si(get("msgs_per_s")) " | " get("limit_name") " | " si(get("limit_value")) " | " ratio(get("ratio_to_limit")) " | " si(get("broker_cpu_s_per_mmsg")) " | " spread() " |"')

## recovery

A broker writes a 1 GiB log (1 KiB values) — in one active segment, or in 1 MiB
segments — and is killed with \`kill -9\`; the time is from the restart's exec to its
ready line (every acked message is checked to be there). Limit: the same broker's start
on an empty dir.

$(table recovery "| params | seconds to ready | empty-dir start s | /limit | broker CPU s per M msgs | broker peak RSS MB | spread |" '"| " get("params") " | " si(get("seconds")) " | " si(get("limit_value")) " | " ratio(get("ratio_to_limit")) " | " si(get("broker_cpu_s_per_mmsg")) " | " si(get("broker_peak_rss_mb")) " | " spread() " |"')

## Where the time goes

EOF
if [ "$PERF_OK" = 1 ]; then
	cat <<EOF
\`perf record -a\` around one run of each (percent of all samples on both CPUs; the
bus's processes and idle only, top entries; \`iou-wrk\` is the io_uring worker thread
that does the broker's buffered writes):

EOF
	for p in append:"append, 64 KiB values, 1 producer, acks=appended" latency:"latency, busy-spin consumer, 100 k/s" \
		catchup:"catchup, 1 consumer, 512 MiB written once and read 10 times (CRC on and off)" \
		remote:"remote, 256 MiB written once and fetched 10 times (splice and copy)"; do
		echo "**${p#*:}**"
		echo
		echo "| samples | process | object | symbol |"
		echo "|---:|---|---|---|"
		cat "$OUT/perf-${p%%:*}.perf.md"
		echo
	done
else
	echo "(perf was not usable on this machine: no profiles in this run.)"
	echo
fi
cat bench/benchmarks-analysis.md
echo
cat bench/benchmarks-append.md
} >"$DOC"
say "wrote $DOC and $IMG/*.png"
