# Sourced by tests/bench/run.sh, its daemon running ($XPID, $XPORT; $CLIENT, $WORK, $OUT,
# $NVMS, $FILL_CLIENTS, $CFLAGS_BENCH): BENCH_VMS VMs in the database, then
# VM.get_all_records timed end to end by the client (tests/bench/benchclient.c: 3 calls
# on one connection, the whole answer read), against its baseline measured in the same
# run: the same records held in memory as the daemon's own values and written with the
# daemon's own writer to the same bytes (tests/bench/serialise.c, linked with
# build/rel/libxenapid.a, on a copy of the daemon's database taken after the calls).
# Peak RSS (VmHWM) is reset (/proc/PID/clear_refs) when the database is full, so that
# the figure is the get_all_records phase's own; the daemon's peak over its whole life
# (the 1,000-client load above included) is printed beside it, and before that what stays
# resident once the load phases' connections are closed.

echo
hwm() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$XPID/status"; }
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$XPID/status"; }
# what the load phases above left resident, once their connections are gone (the
# daemon gives memory back after a storm of connections: src/rpc/conns.c, give_back)
sleep 2
AFTER_RSS=$(rss)
echo "xenapid RSS after the load phases: $AFTER_RSS MB (peak so far $(hwm) MB)"
count_vms() { "$CLIENT" "$XPORT" call "$WORK/get_all.xml" | grep -o 'OpaqueRef:[0-9a-f-]*' | wc -l; }
have=$(count_vms)
todo=$((NVMS - have))
if [ $todo -gt 0 ]; then
  "$CLIENT" "$XPORT" fill "$WORK/create.xml" $todo "$FILL_CLIENTS" |
    awk -v c="$FILL_CLIENTS" '{ printf "filled: %d x VM.create (the record above) from %d clients in %.1f s, %d/s\n", $2, c, $4, $6 }'
fi
have=$(count_vms)
LIFE_HWM=$(hwm)
echo 5 >"/proc/$XPID/clear_refs" # VmHWM := VmRSS: the peak from here on
c0=$(cpu_ticks "$XPID")
GAR=$("$CLIENT" "$XPORT" repeat "$WORK/get_all_records.xml" 3)
c1=$(cpu_ticks "$XPID")
GAR_HWM=$(hwm)
GAR_MS=$(echo "$GAR" | awk '{ for (i = 1; i < NF; i += 2) if ($i == "median_ms") print $(i + 1) }')
GAR_CPU=$(awk -v a="${c1% *}" -v b="${c1#* }" -v c="${c0% *}" -v d="${c0#* }" -v t="$TCK" \
  'BEGIN { printf "%.0f", 1000 * (a + b - c - d) / t / 3 }')
echo "$GAR" | awk -v n="$have" -v db="$(du -h "$WORK/xenapid.db" | cut -f1)" -v cpu="$GAR_CPU" '
  { for (i = 1; i < NF; i += 2) v[$i] = $(i + 1)
    printf "VM.get_all_records, %d VMs (%s database): median %.0f ms of 3 (min %.0f, max %.0f), daemon CPU %d ms a call, %.1f MB, %.1f us per VM\n",
      n, db, v["median_ms"], v["min_ms"], v["max_ms"], cpu, v["bytes"] / 1e6, 1000 * v["median_ms"] / n }'
echo "xenapid peak RSS: $GAR_HWM MB over the get_all_records calls with $have VMs in the database ($LIFE_HWM MB over its life before them)"

# the baseline: the same records, from memory, with the same writer, to the same bytes
SER_MS=- SER_CPU=-
LIBX=$ROOT/build/rel/libxenapid.a
if [ -f "$LIBX" ]; then
  # shellcheck disable=SC2086
  cc $CFLAGS_BENCH -I"$ROOT/include" -I"$ROOT/build/gen" -o "$OUT/serialise" "$BENCH/serialise.c" "$LIBX" \
    -lmicrohttpd -lgnutls -lxml2 -lsqlite3 -lxenctrl -lxenguest -lxenstore -lxentoollog -lpam -lcrypt -lm
  "$CLIENT" "$XPORT" call "$WORK/get_all_records.xml" >"$WORK/get_all_records.response"
  /usr/bin/python3 -c 'import sqlite3, sys
s = sqlite3.connect(sys.argv[1]); d = sqlite3.connect(sys.argv[2]); s.backup(d); d.close()' \
    "$WORK/xenapid.db" "$WORK/copy.db"
  SER=$("$OUT/serialise" "$WORK/copy.db" "$WORK/get_all_records.response" 3)
  SER_MS=$(echo "$SER" | awk '{ for (i = 1; i < NF; i += 2) if ($i == "median_ms") print $(i + 1) }')
  SER_CPU=$(echo "$SER" | awk '{ for (i = 1; i < NF; i += 2) if ($i == "cpu_ms") print $(i + 1) }')
  echo "$SER" | awk '{ for (i = 1; i < NF; i += 2) v[$i] = $(i + 1)
    printf "baseline: the same %d records in memory, written by src/wire: median %.0f ms of 3 (min %.0f), CPU %.0f ms, %.1f MB, same bytes as the daemon: %s\n",
      v["records"], v["median_ms"], v["min_ms"], v["cpu_ms"], v["bytes"] / 1e6, v["same"] }'
  echo "$SER" | grep -q 'same yes' || SER_MS=- SER_CPU=-
  rm -f "$WORK/copy.db" "$WORK/get_all_records.response"
else
  echo "baseline: $LIBX is not built (make): not measured"
fi
bulk_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
echo "VM.get_all_records: $(bulk_ratio "$GAR_MS" "$SER_MS")x the baseline's time, $(bulk_ratio "$GAR_CPU" "$SER_CPU")x its CPU time"
if command -v verdict >/dev/null 2>&1; then
  verdict "VM.get_all_records, $have VMs: time / serialising from memory" "$(bulk_ratio "$GAR_MS" "$SER_MS")" "<=" 3 x
  verdict "VM.get_all_records, $have VMs: CPU time / serialising's" "$(bulk_ratio "$GAR_CPU" "$SER_CPU")" - - x
  verdict "peak RSS over get_all_records, $have VMs in the DB" "$GAR_HWM" "<=" 64 " MB"
  verdict "peak RSS over the daemon's life before (load phases incl.)" "$LIFE_HWM" - - " MB"
  verdict "RSS after the load phases, their connections closed" "$AFTER_RSS" - - " MB"
fi
