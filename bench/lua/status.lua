-- wrk script for the warm-up run: counts responses per HTTP status (every status, not
-- only wrk's "non-2xx or 3xx"), so a 200 where a 304 was expected is caught too.
local threads = {}
counts = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  io.write('BENCH_STATUS {' .. table.concat(parts, ', ') .. '}\n')
end
