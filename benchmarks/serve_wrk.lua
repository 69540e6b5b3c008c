-- wrk script of benchmarks/serve.py: POST /v1/evaluate with the bodies of the file named by
-- $BENCH_BODIES (one JSON body a line), in turn, each thread from its own offset;
-- prints one JSON line at the end (wrk's latency percentiles are of every request).
local reqs, n = {}, 0
for line in io.lines(os.getenv("BENCH_BODIES")) do
  n = n + 1
  reqs[n] = wrk.format("POST", "/v1/evaluate", {["Content-Type"] = "application/json"}, line)
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 37)
end

local k = 0
function init(args)
  k = offset or 0
end

function request()
  k = k + 1
  return reqs[(k % n) + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
