-- wrk script for scripts/bench: POSTs one JSON body over and over.
--
-- Environment (read in every wrk thread):
--   BENCH_BODY_FILE  the request body (JSON)
--   BENCH_AUTH       optional Authorization header value ("Bearer sk-...")
--   BENCH_TAGS       optional X-Sluice-Tags header value
--
-- done() prints one machine-readable line, `BENCH_DONE {...}`, next to wrk's
-- own report: exact latency percentiles in microseconds, error counters and
-- bytes read, which scripts/bench.d/report.py cross-checks with the text.

local path = os.getenv("BENCH_BODY_FILE")
local file = assert(io.open(path, "rb"), "BENCH_BODY_FILE not readable: " .. tostring(path))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
   wrk.headers["Authorization"] = auth
end

local tags = os.getenv("BENCH_TAGS")
if tags ~= nil and tags ~= "" then
   wrk.headers["X-Sluice-Tags"] = tags
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_DONE {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.2f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
