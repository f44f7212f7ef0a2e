-- Every request of the run is the same POST. The headers come from wrk's -H options; the body is
-- read once per thread from the file named after `--`, so a large body needs no shell quoting.
function init(args)
  local file = assert(io.open(args[1], "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
end
