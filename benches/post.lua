-- wrk: POST a 64 KiB body to /echo.
wrk.method = "POST"
wrk.path = "/echo"
wrk.body = string.rep("a", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"

-- The latency distribution (µs) when the run ends, as latency.lua.
function done(summary, latency, requests)
   for _, p in ipairs({50, 90, 99, 99.9}) do
      io.write(string.format("PCTL %g %d\n", p, latency:percentile(p)))
   end
end
