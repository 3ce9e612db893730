-- wrk script for benchmarks/broker.py: binary-mode CloudEvents, each with a unique ce-id
-- (the broker deduplicates (source, id), so repeated ids would not be delivered).
--
--   wrk -t2 -c64 -d10s -s benchmarks/cloudevents.lua http://127.0.0.1:8080/default/default
--
-- When it finishes it prints one line `RESULT <requests> <non-2xx> <socket errors>`.

local threads = {}
local next_thread = 1

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
  body = '{"replica": "web-1", "node": "n1"}'
  headers = {
    ["ce-specversion"] = "1.0",
    ["ce-source"] = "/bench",
    ["ce-type"] = "dev.shoal.bench",
    ["content-type"] = "application/json",
  }
end

function request()
  counter = counter + 1
  headers["ce-id"] = run .. "-" .. thread_id .. "-" .. counter
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format("RESULT %d %d %d\n", summary.requests, errors.status, socket_errors))
end
