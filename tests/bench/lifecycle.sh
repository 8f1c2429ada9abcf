# The lifecycle and event part of `make bench`, sourced by tests/bench/run.sh (it uses
# run.sh's WORK, CONF, XENAPID, PASSWORD, PIDS, wait_ready, stop_pid and verdict).
#
# 1. Cycles: VM.create, VM.start, VM.hard_shutdown, VM.destroy, repeated by 1, 8 and 32
#    clients (tests/bench/lifeclient.c, JSON-RPC over keep-alive HTTP, a connection and a
#    session per client) on a fresh daemon with etc/xenapid.conf's settings (db-sync = full,
#    the simulator backend); against the same cycle (define, create, destroy, undefine)
#    through libvirt's C API (tests/bench/virtclient.c) on libvirtd's test driver, in a
#    private libvirtd (session mode, its own runtime directory in WORK, reached over its
#    unix socket; as root it runs as nobody).  The test driver keeps its domains in
#    memory and writes nothing to disk; xenapid makes every acknowledged write durable.
#    What bounds a cycle, measured in the same run: one xenstore request's round trip
#    to the simulator's xenstored (tests/bench/xsclient.c, stock libxenstore: XS_READ
#    and XS_WRITE, with the daemon's CPU per request) times the requests a cycle makes
#    (the daemon's xenstored logs the requests it served when it stops, divided by the
#    cycles run).
# 2. event.from: one waiter, then BENCH_WAITERS (1,000) waiters parked at once, each on
#    its own keep-alive connection (a session per 10), read by one epoll thread; latency
#    from the write's answer (VM.set_name_label: committed, durable, acknowledged) to each
#    waiter's answer, and from the moment the write was sent; against the same with
#    tests/bench/bare_events.c: libmicrohttpd in the daemon's mode, answering the same
#    calls (the waiters' answer: the bytes xenapid sent, captured) and doing no other
#    work, the floor of the HTTP layer and the client on this machine.  "wake cpu": the
#    server's CPU time from the write's sending to the last answer (all its threads).
#
# Knobs: BENCH_LIFE_SECONDS (per cycle run, default 5), BENCH_LIFE_CLIENTS ("1 8 32"),
# BENCH_WAITERS (1000), BENCH_EVENT_ROUNDS (rounds with one waiter, 50; with many, 5),
# BENCH_EVENT_PAIRS (runs of 5 rounds with many waiters on xenapid and on bare_events in
# turn, 3).

LIFE_SECS=${BENCH_LIFE_SECONDS:-5}
LIFE_CLIENTS=${BENCH_LIFE_CLIENTS:-1 8 32}
WAITERS=${BENCH_WAITERS:-1000}
EV_ROUNDS=${BENCH_EVENT_ROUNDS:-50}
EV_PAIRS=${BENCH_EVENT_PAIRS:-3}

if ! command -v verdict >/dev/null 2>&1; then
  verdict() { printf 'verdict: %s: %s %s %s%s\n' "$1" "$2" "$3" "$4" "${5:-}"; }
fi

echo
echo "== lifecycle cycles (create, start, hard_shutdown, destroy) and event.from"
# shellcheck disable=SC2086
cc $CFLAGS_BENCH -o "$OUT/lifeclient" "$BENCH/lifeclient.c" -pthread
# shellcheck disable=SC2086
cc $CFLAGS_BENCH -o "$OUT/bare_events" "$BENCH/bare_events.c" -lmicrohttpd
# shellcheck disable=SC2086
cc $CFLAGS_BENCH -o "$OUT/xsclient" "$BENCH/xsclient.c" -lxenstore
LIBVIRTD=$(command -v libvirtd || echo /usr/sbin/libvirtd)
HAVE_VIRT=""
if [ -x "$LIBVIRTD" ] && [ -e /usr/include/libvirt/libvirt.h ]; then
  # shellcheck disable=SC2086
  cc $CFLAGS_BENCH -o "$OUT/virtclient" "$BENCH/virtclient.c" -lvirt -pthread && HAVE_VIRT=1
fi
[ -n "$HAVE_VIRT" ] || echo "bench: libvirtd or libvirt-dev is missing (scripts/deps.sh bench): no libvirt baseline" >&2

# ---- a fresh daemon: the shipped settings, its own database and simulator ----
LW=$WORK/life
mkdir -p "$LW"
LCONF=$WORK/life.conf
sed -e "s|$WORK/|$LW/|g" -e "s|^max-connections-per-address *=.*|max-connections-per-address = $((WAITERS * 2))|" \
  "$CONF" >"$LCONF"
grep -q '^db-sync *= *full' "$LCONF" || { echo "bench: etc/xenapid.conf no longer has db-sync = full" >&2; exit 1; }
printf '%s\n' "$PASSWORD" | "$XENAPID" --config "$LCONF" --set-password root >/dev/null
"$XENAPID" --config "$LCONF" >"$LW/xenapid.out" 2>"$LW/xenapid.log" &
LPID=$!
PIDS="$PIDS $LPID"
LPORT=$(wait_ready "$LW/xenapid.out" $LPID "xenapid (lifecycle)" 120)

# ---- a private libvirtd: session mode, everything under LW/libvirt ----
VPID=""
if [ -n "$HAVE_VIRT" ]; then
  VD=$LW/libvirt
  mkdir -p "$VD/run" "$VD/home" "$VD/config" "$VD/cache"
  as_user=""
  if [ "$(id -u)" = 0 ]; then
    # as root libvirtd would be the system daemon (its networks, /run/libvirt): nobody's
    # session daemon instead, and the client runs as nobody too
    chown -R nobody:nogroup "$VD"
    chmod o+x "$WORK" "$LW"   # traversable to reach VD, nothing readable
    as_user="setpriv --reuid=nobody --regid=nogroup --clear-groups"
  fi
  venv="HOME=$VD/home XDG_RUNTIME_DIR=$VD/run XDG_CONFIG_HOME=$VD/config XDG_CACHE_HOME=$VD/cache"
  # shellcheck disable=SC2086
  $as_user env -i $venv PATH=/usr/sbin:/usr/bin "$LIBVIRTD" --timeout 0 >"$VD/libvirtd.log" 2>&1 &
  VPID=$!
  PIDS="$PIDS $VPID"
  VSOCK=$VD/run/libvirt/libvirt-sock
  n=0
  while [ ! -S "$VSOCK" ] && [ $n -lt 300 ]; do
    kill -0 $VPID 2>/dev/null || break
    sleep 0.1
    n=$((n + 1))
  done
  if [ ! -S "$VSOCK" ]; then
    echo "bench: the private libvirtd did not start (its log: $VD/libvirtd.log):" >&2
    tail -n 5 "$VD/libvirtd.log" >&2
    HAVE_VIRT=""
  fi
  VURI="test+unix:///default?socket=$VSOCK"
fi
virt_cycles() { # CLIENTS SECONDS
  # shellcheck disable=SC2086
  $as_user env $venv "$OUT/virtclient" "$VURI" "$1" "$2"
}

LRES=$WORK/life.results
: >"$LRES"
echo "xenapid: $XENAPID --config $LCONF (db-sync = full, simulator); libvirt: ${VURI:-none}"
echo "each: a 1 s warm-up, then ${LIFE_SECS} s per client count, xenapid and libvirt in turn"
"$OUT/lifeclient" "$LPORT" "$PASSWORD" cycles 1 1 | sed 's/^/warmup /' >>"$LRES"
[ -z "$HAVE_VIRT" ] || virt_cycles 1 1 >/dev/null
for c in $LIFE_CLIENTS; do
  c0=$(cpu_ticks $LPID)
  r=$("$OUT/lifeclient" "$LPORT" "$PASSWORD" cycles "$c" "$LIFE_SECS")
  c1=$(cpu_ticks $LPID)
  echo "xenapid $r cpu_ticks $((${c1% *} + ${c1#* } - ${c0% *} - ${c0#* }))" >>"$LRES"
  if [ -n "$HAVE_VIRT" ]; then
    c0=$(cpu_ticks $VPID)
    r=$(virt_cycles "$c" "$LIFE_SECS")
    c1=$(cpu_ticks $VPID)
    echo "libvirt $r cpu_ticks $((${c1% *} + ${c1#* } - ${c0% *} - ${c0#* }))" >>"$LRES"
  fi
done
# one xenstore round trip, the daemon's CPU for it (no cycles running)
XSOCK=$(sed -n 's/^sim-state-dir *= *//p' "$LCONF")/xenstored.sock
for op in read write; do
  c0=$(cpu_ticks $LPID)
  r=$("$OUT/xsclient" "$XSOCK" 2 $op) || r=""
  c1=$(cpu_ticks $LPID)
  [ -z "$r" ] || echo "xs $op $r cpu_ticks $((${c1% *} + ${c1#* } - ${c0% *} - ${c0#* }))" >>"$LRES"
done
awk -v tck="$TCK" '
  $1 == "warmup" || $1 == "xs" { next }
  { v[$1, $3] = $9; p50[$1, $3] = $11; p99[$1, $3] = $13; cpu[$1, $3] = $5 ? 1e3 * $15 / tck / $5 : 0; cs[$3] = 1 }
  END {
    printf "%-8s %-28s %9s %9s %8s %12s\n", "clients", "server", "cycles/s", "median ms", "p99 ms", "cpu ms/cycle"
    n = split("1 8 32 64 128", order, " ")
    for (i = 1; i <= n; i++) { c = order[i]; if (!(c in cs)) continue
      if (("xenapid", c) in v) printf "%-8s %-28s %9.1f %9.2f %8.2f %12.2f\n", c, "xenapid (simulator)", v["xenapid", c], p50["xenapid", c], p99["xenapid", c], cpu["xenapid", c]
      if (("libvirt", c) in v) printf "%-8s %-28s %9.1f %9.2f %8.2f %12.2f\n", c, "libvirtd test driver", v["libvirt", c], p50["libvirt", c], p99["libvirt", c], cpu["libvirt", c]
      if (("libvirt", c) in v && v["libvirt", c] > 0) printf "%-8s xenapid cycles/s %.3fx libvirtd test driver\n", c, v["xenapid", c] / v["libvirt", c] }
  }' "$LRES"
echo "(cpu ms/cycle: the server process's CPU time per cycle. Target (issue 14): xenapid >= 2x the"
echo " test driver at 8 clients, and 8 clients well above 1)"
life_fig() { # SERVER CLIENTS
  awk -v s="$1" -v c="$2" '$1 == s && $3 == c { v = $9 } END { print v == "" ? "-" : v }' "$LRES"
}
life_ratio() { # A B
  awk -v a="$1" -v b="$2" 'BEGIN { print (a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.3f", a / b) }'
}
verdict "lifecycle cycles, 8 clients: xenapid / libvirtd test driver" \
  "$(life_ratio "$(life_fig xenapid 8)" "$(life_fig libvirt 8)")" ">=" 2 x
verdict "lifecycle cycles: xenapid 8 clients / 1 client" \
  "$(life_ratio "$(life_fig xenapid 8)" "$(life_fig xenapid 1)")" ">" 1.5 x

# ---- event.from ----
[ "$(ulimit -n)" -gt $((WAITERS + 100)) ] || ulimit -n $((WAITERS + 1000))
e1=$("$OUT/lifeclient" "$LPORT" "$PASSWORD" events 1 "$EV_ROUNDS")
en=$(BENCH_SERVER_PID=$LPID "$OUT/lifeclient" "$LPORT" "$PASSWORD" events "$WAITERS" 5 "$LW/event_from.answer")
# the floor: bare_events answers the waiters with the bytes xenapid sent them
"$OUT/bare_events" --answer "$LW/event_from.answer" --vm "${en##* vm }" >"$LW/bare_events.out" 2>"$LW/bare_events.log" &
EPID=$!
PIDS="$PIDS $EPID"
EPORT=$(wait_ready "$LW/bare_events.out" $EPID bare_events 120)
eb=$(BENCH_SERVER_PID=$EPID "$OUT/lifeclient" "$EPORT" "$PASSWORD" events "$WAITERS" 5)
# more pairs in turn: one run each is at the mercy of whatever else the machine runs
EVP=$LW/event_pairs
echo "1 $en" >"$EVP"
echo "1 $eb" >"$EVP.bare"
p=2
while [ $p -le "$EV_PAIRS" ]; do
  echo "$p $(BENCH_SERVER_PID=$LPID "$OUT/lifeclient" "$LPORT" "$PASSWORD" events "$WAITERS" 5)" >>"$EVP"
  echo "$p $(BENCH_SERVER_PID=$EPID "$OUT/lifeclient" "$EPORT" "$PASSWORD" events "$WAITERS" 5)" >>"$EVP.bare"
  p=$((p + 1))
done
stop_pid "$EPID"
evf() { # LINE KEY
  echo "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }'
}
echo
echo "event.from after a write (VM.set_name_label), from the write's answer (committed, durable, acknowledged):"
echo "  1 waiter, $EV_ROUNDS rounds: median $(evf "$e1" median_ms) ms, p99 $(evf "$e1" p99_ms) ms, max $(evf "$e1" max_ms) ms;" \
  "from the write's sending: median $(evf "$e1" sent_median_ms) ms (the write itself: median $(evf "$e1" write_ms) ms)"
echo "  $WAITERS waiters at once, 5 rounds: median $(evf "$en" median_ms) ms, p99 $(evf "$en" p99_ms) ms; the last of a round:" \
  "median $(evf "$en" last_median_ms) ms, worst $(evf "$en" last_max_ms) ms; from the write's sending: worst last" \
  "$(evf "$en" sent_last_max_ms) ms (the write itself: median $(evf "$en" write_ms) ms)"
echo "  against bare libmicrohttpd (tests/bench/bare_events.c) answering the same $(wc -c <"$LW/event_from.answer")" \
  "bytes, $EV_PAIRS runs of 5 rounds each in turn; the last of a round (median, worst) and the server's CPU per wake:"
# pairs FILE FILE.bare OUT: a line per run, then the median of each column; the median
# of the ratios of the worst rounds goes to OUT
pairs() {
  awk -v out="$3" -v k1=last_median_ms -v k2=last_max_ms -v k3=wake_cpu_ms '
    function f(line, k,   n, a, i) { n = split(line, a, " "); for (i = 2; i < n; i += 2) if (a[i] == k) return a[i + 1] + 0; return -1 }
    function med(v, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    NR == FNR { x[FNR] = $0; next }
    { n = FNR; a1[n] = f(x[n], k1); a2[n] = f(x[n], k2); a3[n] = f(x[n], k3); b1[n] = f($0, k1); b2[n] = f($0, k2); b3[n] = f($0, k3)
      r[n] = b2[n] > 0 ? a2[n] / b2[n] : 0
      printf "    run %d: xenapid %.2f, %.2f ms, cpu %.2f ms; bare %.2f, %.2f ms, cpu %.2f ms\n", n, a1[n], a2[n], a3[n], b1[n], b2[n], b3[n] }
    END { printf "    median: xenapid %.2f, %.2f ms, cpu %.2f ms; bare %.2f, %.2f ms, cpu %.2f ms; worst xenapid / bare %.3fx\n",
      med(a1, n), med(a2, n), med(a3, n), med(b1, n), med(b2, n), med(b3, n), med(r, n)
      printf "%.3f\n", med(r, n) >out }' "$1" "$2"
}
pairs "$EVP" "$EVP.bare" "$EVP.ratio"
PAIR_RATIO=$(cat "$EVP.ratio" 2>/dev/null || echo -)
echo "(target (issue 14): median <= 1 ms with one waiter; with $WAITERS, every one within 10 ms of the write)"
verdict "event.from, 1 waiter: median after the write's answer" "$(evf "$e1" median_ms)" "<=" 1 " ms"
verdict "event.from, $WAITERS waiters: the last after the write's answer, worst round" "$(evf "$en" last_max_ms)" "<=" 10 " ms"
verdict "event.from, $WAITERS waiters: the last after the write's answer, worst round: xenapid / bare libmicrohttpd (median of $EV_PAIRS runs)" \
  "${PAIR_RATIO:--}" - - x

[ -z "$VPID" ] || stop_pid "$VPID"
stop_pid "$LPID"

# ---- what bounds a cycle ----
SERVED=$(sed -n 's/.*xenstored: \([0-9][0-9]*\) requests served.*/\1/p' "$LW/xenapid.log" | tail -n 1)
echo
awk -v tck="$TCK" -v served="${SERVED:-}" '
  $1 == "warmup" || $1 == "xenapid" { cycles += $5 }
  $1 == "xenapid" && $3 == 1 { cpu1 = 1e3 * $15 / tck / $5; p50 = $11 }
  $1 == "xs" { n[$2] = $4; us[$2] = $8; ccpu[$2] = $10; cpu[$2] = 1e6 * $12 / tck / $4; xsreq += $4 + 2 }
  END {
    if (!("write" in n)) { print "bound: xsclient could not reach the simulator'"'"'s xenstored"; exit }
    printf "xenstore round trip, one client: XS_READ %.1f us (CPU: xenstored %.1f us, libxenstore client %.1f us), XS_WRITE %.1f us (CPU: xenstored %.1f us with the save before the answer, client %.1f us)\n", us["read"], cpu["read"], ccpu["read"], us["write"], cpu["write"], ccpu["write"]
    if (served == "" || cycles == 0) { print "bound: the daemon logged no count of xenstore requests served"; exit }
    r = (served - xsreq) / cycles
    printf "xenstore requests per cycle: %.1f (%d served over %d cycles; the start-up, the event.from part and the stop included)\n", r, served - xsreq, cycles
    # the daemon is both ends of its requests: xenstored and the libxenstore client
    w = cpu["write"] + ccpu["write"]
    printf "bound: %.1f requests x %.1f us daemon CPU (an XS_WRITE, both ends) = %.2f ms of the %.2f ms CPU per cycle at 1 client;", r, w, r * w / 1e3, cpu1
    printf " %.1f round trips x %.1f us = %.2f ms of its %.2f ms median cycle, one after the other\n", r, us["write"], r * us["write"] / 1e3, p50
  }' "$LRES"
