-- pktgen_adapter.lua: the no-drop search's adapter (see nodrop.lua) over pktgen-dpdk's
-- Lua API: the only file that calls `pktgen.*`. Rates are pktgen's: percent of line rate.
--
--   local adapter = require("pktgen_adapter").new(pktgen, {
--     ports = "0,1",                        -- pktgen portlist that sends and receives
--     stats = { file = "/run/qfp.json" },   -- or { cmd = "qfp ctl --json show stats" }
--     stats_interval_s = 1,                 -- qfp's --stats-interval
--   })
--
-- pktgen's portStats changed shape across releases: older ones take (portlist, "port")
-- and return flat counters per port, newer ones take (portlist) and nest them under
-- `curr`. Both are handled.

local qfpstats = require("qfpstats")

local M = {}

-- Port ids of a pktgen portlist ("0,1", "0-3", "all" needs `all_ports`).
function M.port_ids(list, all_ports)
  local ids = {}
  if list == "all" then
    for i = 0, (all_ports or 1) - 1 do ids[#ids + 1] = i end
    return ids
  end
  for part in tostring(list):gmatch("[^,]+") do
    local a, b = part:match("^%s*(%d+)%s*%-%s*(%d+)%s*$")
    if a then
      for i = tonumber(a), tonumber(b) do ids[#ids + 1] = i end
    else
      local n = tonumber(part)
      if not n then error("pktgen adapter: bad portlist '" .. tostring(list) .. "'", 0) end
      ids[#ids + 1] = n
    end
  end
  return ids
end

function M.new(pg, opts)
  opts = opts or {}
  local ports = opts.ports or "0,1"
  local ids = M.port_ids(ports, pg.portCount and pg.portCount() or nil)
  local read_stats = qfpstats.reader(opts.stats)
  local interval_ms = math.floor((opts.stats_interval_s or 1) * 1000)
  local a = {}

  local function port_stats()
    local ok, t = pcall(pg.portStats, ports)
    if not ok or type(t) ~= "table" then t = pg.portStats(ports, "port") end
    return t
  end

  function a.set_rate(rate) pg.set(ports, "rate", rate) end
  function a.start() pg.start(ports) end
  function a.stop() pg.stop(ports) end
  function a.clear() if pg.clr then pg.clr() end end
  function a.sleep_ms(ms) if ms > 0 then pg.delay(math.floor(ms)) end end
  function a.rate_label(rate) return string.format("%.3g%%", rate) end
  function a.log(line) print(line) end

  function a.counters()
    local t = port_stats()
    local c = { tx = 0, rx = 0, missed = 0 }
    for _, id in ipairs(ids) do
      local s = t[id]
      if s == nil then error("pktgen adapter: no statistics for port " .. id, 0) end
      s = s.curr or s
      c.tx = c.tx + (tonumber(s.opackets) or 0)
      c.rx = c.rx + (tonumber(s.ipackets) or 0)
      c.missed = c.missed + (tonumber(s.imissed) or 0)
    end
    return c
  end

  -- qfp publishes its counters every --stats-interval: wait for a document published
  -- after this call, so the one read after a trial covers all of it.
  function a.qfp_stats()
    local doc = read_stats()
    if not doc then return nil end
    return qfpstats.fresh(read_stats, a.sleep_ms, tonumber(doc.uptime_s), interval_ms * 3)
  end

  return a
end

return M
