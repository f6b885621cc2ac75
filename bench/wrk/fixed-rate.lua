-- wrk at a fixed rate, for cross-checking `enneo-edge bench` with an
-- independent client (wrk has no rate option; wrk2 is not packaged):
-- every connection sends one callReceived, waits for the answer, then
-- pauses CONNS/RATE seconds. The connections' first requests are spread
-- over one pause, so they do not fire in step. While latency stays well
-- below the pause the target sees about RATE calls per second, evenly
-- spaced as on enneo-edge bench's schedule. Every
-- request has its own channelId; the body is the one in mix.jsonl, which
-- `enneo-edge bench -mix` sends in the same run.
--
--   WRK_RATE=1000 WRK_CONNS=100 WRK_THREADS=2 WRK_TOKEN=... \
--     wrk -t2 -c100 -d10s --latency -s bench/wrk/fixed-rate.lua http://127.0.0.1:8080/api/mind/telephony/callReceived
local rate = tonumber(os.getenv("WRK_RATE") or "1000")
local conns = tonumber(os.getenv("WRK_CONNS") or "100")
local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
local token = os.getenv("WRK_TOKEN") or ""
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
local pause = math.floor(conns * 1000 / rate)

local calls = 0

function delay()
  calls = calls + 1
  if calls <= conns / nthreads then
    -- connection number `calls` of this thread: its slot in the first pause
    return math.floor(((calls - 1) * nthreads + tid - 1) * pause / conns)
  end
  return pause
end

function request()
  n = n + 1
  local body = '{"routing":"external","direction":"in","phone":"+49 151 2345678",' ..
    '"callerName":"Erika Mustermann","triggerAiProcessing":false,' ..
    '"transcript":[{"speaker":"bot","message":"Welcome to enneo, how can I help?"},' ..
    '{"speaker":"customer","message":"I would like to change my tariff."}],' ..
    '"channelId":"wrk-' .. tid .. '-' .. n .. '-' .. os.time() .. '"}'
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
