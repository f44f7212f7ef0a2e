-- A POST per request, cycling through many bodies: the file named after `--` holds one body per
-- line (compact JSON). The requests are formatted once per thread (the headers come from wrk's -H
-- options), and each thread starts at a different line, so threads do not ask in lockstep.
local threads = 0

function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end

local requests = {}
local next_request = 1

function init(args)
  wrk.method = "POST"
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format(nil, nil, nil, line)
    end
  end
  assert(#requests > 0, "no request bodies in " .. args[1])
  next_request = ((offset or 0) % #requests) + 1
end

function request()
  local req = requests[next_request]
  next_request = next_request % #requests + 1
  return req
end
