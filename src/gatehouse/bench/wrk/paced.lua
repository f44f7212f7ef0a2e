-- A POST at a fixed request rate (wrk2 is not packaged here): each wrk thread hands out send
-- slots `interval` ms apart, and a connection that has its answer waits for the next free slot
-- before its next request. A thread that falls behind does not catch up (no bursts), so the
-- achieved rate, which wrk reports, says whether the schedule held. wrk measures each latency
-- from the moment the request is written.
--
--   wrk -t2 -c50 -d10s --latency -s paced.lua URL -- BODY_FILE REQUESTS_PER_SECOND_PER_THREAD
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } gatehouse_timespec;
int clock_gettime(int clock_id, gatehouse_timespec *tp);
]]
local now_spec = ffi.new("gatehouse_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_spec)
  return tonumber(now_spec.tv_sec) * 1000 + tonumber(now_spec.tv_nsec) / 1e6
end

local interval = 1
local next_slot = nil

function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  interval = 1000 / tonumber(args[2])
end

function delay()
  local now = now_ms()
  if next_slot == nil or next_slot < now then
    next_slot = now
  end
  local wait = next_slot - now
  next_slot = next_slot + interval
  return wait
end
