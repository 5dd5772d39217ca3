-- wrk: print the latency distribution (µs) when the run ends; bench.py reads these lines.
-- post.lua defines the same done().
function done(summary, latency, requests)
   for _, p in ipairs({50, 90, 99, 99.9}) do
      io.write(string.format("PCTL %g %d\n", p, latency:percentile(p)))
   end
end
