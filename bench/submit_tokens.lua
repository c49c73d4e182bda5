-- wrk script: each request answers its own survey invitation.
--   wrk -t2 -c16 -d15s -s bench/submit_tokens.lua URL -- THREADS TOKENS_FILE
-- The link tokens (one a line) are split between wrk's threads, so no token is sent twice
-- while there are enough; the answers vary with the request's number. At the end one JSON line
-- (prefixed "BENCH ") gives the figures the bench reads.

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local threads = tonumber(args[1])
  tokens = {}
  local line_number = 0
  for line in io.lines(args[2]) do
    if line_number % threads == id then
      tokens[#tokens + 1] = line
    end
    line_number = line_number + 1
  end
  sent = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local token = tokens[(sent - 1) % #tokens + 1]
  local body = string.format(
    '{"token":"%s","answers":{"nps":%d,"csat":%d,"ces":%d,' ..
    '"comment":"交付及时，沟通顺畅。Delivery was on time and the team kept us informed."}}',
    token, sent % 11, 1 + sent % 5, 1 + sent % 7)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"status_errors":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
end
