-- wrk script: each request spends the next token of a file, once, and never one twice.
--   wrk -t1 ... -s spend_tokens.lua URL -- TOKEN_FILE FIRST LAST MODE
-- Sends tokens FIRST..LAST (1-based, inclusive) of TOKEN_FILE, one per request, as POSTs:
--   MODE "refresh": the body {"refresh_token": TOKEN} (POST /auth/refresh);
--   MODE "bearer":  the header Authorization: Bearer TOKEN (POST /auth/logout).
-- A refresh token works once, and a session ends once: a token sent twice would measure a
-- refusal (and end its session). So when the slice runs out before wrk's duration, the thread
-- stops, requests/s is taken over the time the slice took (printed by done() as
-- "spent: N responses in S s"), and any request asked for after the last token goes to
-- GET /health, which changes nothing.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")

local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local requests = {}
local i, last = 0, 0
started, finished, responses, exhausted = 0, 0, 0, 0

function init(args)
  local first, mode = tonumber(args[2]), args[4]
  last = tonumber(args[3])
  local n = 0
  for line in io.lines(args[1]) do
    n = n + 1
    if n > last then break end
    if n >= first then
      if mode == "refresh" then
        requests[#requests + 1] = wrk.format("POST", nil,
          { ["Content-Type"] = "application/json" }, '{"refresh_token":"' .. line .. '"}')
      else
        requests[#requests + 1] = wrk.format("POST", nil, { ["Authorization"] = "Bearer " .. line })
      end
    end
  end
  last = #requests
end

function request()
  if started == 0 then started = now() end
  i = i + 1
  if i > last then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/health")
  end
  return requests[i]
end

function response(status, headers, body)
  responses = responses + 1
  finished = now()
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local n, s, f, e = thread:get("responses"), thread:get("started"), thread:get("finished"),
      thread:get("exhausted")
    io.write(string.format("spent: %d responses in %.6f s, exhausted %d\n", n, f - s, e))
  end
end
