-- pipeline.lua - wrk script: every write carries DEPTH requests back to back
-- (HTTP/1.1 pipelining), as TechEmpower's plaintext test does.
--
--   WEFT_WRK_CONNECTIONS=100 wrk -t1 -c100 -d10s --latency \
--       -s bench/pipeline.lua http://127.0.0.1:P/plaintext -- 16
--
-- DEPTH is the first argument after "--" (default 16). The requests are
-- wrk.format() of the URL's path, with the Host header wrk adds. wrk counts
-- each response as a request.
--
-- Latency. wrk 4.1 records one latency per batch (from the write to the
-- batch's last response), then "corrects" for coordinated omission with the
-- interval between *responses* on a connection, 1/DEPTH of the batch's: it
-- adds DEPTH-odd phantom samples below each real one, and its percentile
-- walk starts at the smallest real sample, so --latency prints nonsense
-- (a 99% of 0). When WEFT_WRK_CONNECTIONS holds wrk's -c, done() reads the
-- histogram (LuaJIT FFI; wrk 4.1's struct stats), undoes that correction,
-- redoes it with the interval between batches (what wrk does for one
-- request per write, the batch being the request) and prints
--   batch-latency: p50 N us, p99 N us, batches N
-- which bench/http/run.py reports for pipelined runs. Without the variable,
-- or if the histogram does not look like wrk 4.1's, it prints nothing.

init = function(args)
   local depth = tonumber(args[1]) or 16
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format()
   end
   req = table.concat(r)
end

request = function()
   return req
end

-- value at percentile p of counts h[0..max] totalling n, as wrk's
-- stats_percentile ranks it
local function percentile(h, max, n, p)
   local rank = math.floor(p / 100 * n + 1)
   local total = 0
   for i = 0, max do
      total = total + h[i]
      if total >= rank then
         return i
      end
   end
   return max
end

done = function(summary, latency, requests)
   local conns = tonumber(os.getenv("WEFT_WRK_CONNECTIONS") or "")
   if not conns or conns < 1 then
      return
   end
   local ok, ffi = pcall(require, "ffi")
   if not ok then
      return
   end
   -- struct stats { uint64_t count, limit, min, max; uint64_t data[]; }
   local s = ffi.cast("uint64_t **", ffi.cast("void *", latency))[0]
   local min, max = tonumber(s[2]), tonumber(s[3])
   if min ~= latency.min or max ~= latency.max or max < min or max > tonumber(s[1]) then
      return
   end
   local data = s + 4
   local per_conn = math.floor(summary.requests / conns)
   if per_conn < 1 then
      return
   end
   local e = math.floor(summary.duration / per_conn)
   -- wrk added, for every m > e, sum over k >= 1 of orig[m + k*e]
   local orig = ffi.new("double[?]", max + 1)
   local suffix = ffi.new("double[?]", max + 1)
   local batches = 0
   for m = max, 0, -1 do
      local above = (m + e <= max) and suffix[m + e] or 0
      local v = tonumber(data[m])
      if m > e then
         v = v - above
      end
      if v < 0 then
         return -- not the histogram we think it is
      end
      orig[m] = v
      suffix[m] = v + above
      batches = batches + v
   end
   local per_conn_b = math.floor(batches / conns)
   if per_conn_b < 1 then
      return
   end
   local eb = math.floor(summary.duration / per_conn_b)
   local h = ffi.new("double[?]", max + 1)
   local n = 0
   for m = max, 0, -1 do
      local above = (m + eb <= max) and suffix[m + eb] or 0
      suffix[m] = orig[m] + above
      local v = orig[m]
      if m > eb and eb > 0 then
         v = v + above
      end
      h[m] = v
      n = n + v
   end
   io.write(string.format("batch-latency: p50 %d us, p99 %d us, batches %d\n",
                          percentile(h, max, n, 50), percentile(h, max, n, 99), batches))
end
