-- wrk script for `make bench`: POST VM.get_record(session, vm) over keep-alive
-- connections and print one machine-readable line at the end.
--   wrk -t T -c C -d D -s get_record.lua http://127.0.0.1:PORT/ -- SESSION VMREF
-- The request is built once per thread (no request()/response() callbacks), so wrk
-- spends no Lua time per call.  Output:
--   RESULT requests R seconds S rps X p50_us A p99_us B bytes_per_resp N errors E

function init(args)
   local session, vm = args[1], args[2]
   if not session or not vm then
      error("usage: wrk ... -s get_record.lua URL -- SESSION VMREF")
   end
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "text/xml"
   wrk.headers["User-Agent"] = "xenapid-bench"
   wrk.body = "<?xml version=\"1.0\"?>\n<methodCall><methodName>VM.get_record</methodName>" ..
      "<params><param><value><string>" .. session .. "</string></value></param>" ..
      "<param><value><string>" .. vm .. "</string></value></param></params></methodCall>\n"
end

function done(summary, latency, requests)
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.status + e.timeout
   local secs = summary.duration / 1e6
   local per = summary.requests > 0 and summary.bytes / summary.requests or 0
   io.write(string.format(
      "RESULT requests %d seconds %.3f rps %.1f p50_us %d p99_us %d bytes_per_resp %d errors %d\n",
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50), latency:percentile(99), per, errors))
end
