-- uncached.lua: a wrk script whose every request is a distinct imageView2
-- fop on the same object, so no request can be answered from the agent's
-- result cache. It counts status codes and the X-Ufop-Cache header of
-- every response, and prints them after the run with the rate of 200
-- misses (the work actually done).
--
--   wrk -t<T> -s uncached.lua URL -- <path> <T> [offset] [retry-after|hammer]
--
-- <path> is /<bucket>/<key>; <T> must repeat wrk's thread count (threads
-- interleave the sequence); offset shifts the sequence so runs against the
-- same server never repeat each other's fops (give each run its own
-- multiple of 1000000). With retry-after (the default) a 503 or 429 makes
-- the thread wait Retry-After seconds before its next request, as a
-- well-behaved client would; hammer sends the next request at once.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   path = args[1] or "/pics/portrait.jpg"
   nthreads = tonumber(args[2] or "1")
   offset = tonumber(args[3] or "0")
   honour = (args[4] or "retry-after") ~= "hammer"
   counter = 0
   hit, miss, other, ok, bad = 0, 0, 0, 0, 0
   statuses = {}
   backoff = {}
end

-- fop i for i < 601*84*200 (about 10 million) is distinct from every other
-- and from the warmed imageView2/1/w/200/h/200: q stays below 85, the
-- default quality, which the gateway drops when normalizing.
local function fop(i)
   local w = 100 + i % 601
   local q = 1 + math.floor(i / 601) % 84
   local h = 150 + math.floor(i / (601 * 84)) % 200
   return string.format("imageView2/1/w/%d/h/%d/q/%d", w, h, q)
end

function request()
   local i = offset + counter * nthreads + id
   counter = counter + 1
   return wrk.format("GET", path .. "?" .. fop(i))
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status == 200 then ok = ok + 1 else bad = bad + 1 end
   local c = headers["X-Ufop-Cache"]
   if c == "hit" then hit = hit + 1
   elseif c == "miss" then miss = miss + 1
   else other = other + 1 end
   if honour and (status == 503 or status == 429) then
      local ra = tonumber(headers["Retry-After"] or "") or 1
      table.insert(backoff, ra * 1000)
   end
end

-- delay runs before each request of this thread; a pending back-off is
-- taken by the next request the thread sends, which keeps the rate of
-- retries what Retry-After asks for.
function delay()
   if #backoff > 0 then
      return table.remove(backoff, 1)
   end
   return 0
end

function done(summary, latency, requests)
   local t = {hit = 0, miss = 0, other = 0, ok = 0, bad = 0}
   local codes = {}
   for _, th in ipairs(threads) do
      for k in pairs(t) do
         t[k] = t[k] + th:get(k)
      end
      for code, n in pairs(th:get("statuses")) do
         codes[code] = (codes[code] or 0) + n
      end
   end
   local parts = {}
   for code, n in pairs(codes) do table.insert(parts, code .. "=" .. n) end
   table.sort(parts)
   local secs = summary.duration / 1e6
   io.write(string.format("ufop-cache: hit=%d miss=%d none=%d status200=%d other=%d\n",
      t.hit, t.miss, t.other, t.ok, t.bad))
   io.write("statuses: " .. table.concat(parts, " ") .. "\n")
   io.write(string.format("misses/sec: %.2f\n", t.miss / secs))
end
