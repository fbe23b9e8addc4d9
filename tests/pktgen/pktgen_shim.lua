-- pktgen_shim.lua: a stand-in for pktgen-dpdk's `pktgen` Lua global, backed by real
-- packets, so the shipped scripts/pktgen/qfp-nodrop.lua runs unchanged on a machine
-- without pktgen or NICs (this one). Each pktgen "port" is one end of a veth pair whose
-- other end a `qfp run` polls through DPDK's net_af_packet:
--
--   start      `tcpreplay --pps=R --loop=0` replays the port's capture into its veth
--              (R = rate% of QFP_SHIM_LINE_PPS, the shim's "line rate" per port)
--   stop       stops the replays (SIGTERM, then waits for them to exit)
--   portStats  the veths' kernel counters (tx_packets, rx_packets), new-style
--              ({[port] = {curr = {...}}}), relative to the last clr()
--   delay      sleeps
--
-- Environment: QFP_SHIM_IFACES ("genP,genU": port 0, port 1), QFP_SHIM_PCAPS (the
-- captures, same order), QFP_SHIM_LINE_PPS.

local function env(name)
  local v = os.getenv(name)
  if not v or v == "" then error("pktgen shim: " .. name .. " is not set", 0) end
  return v
end

local function split(s)
  local t = {}
  for x in s:gmatch("[^,]+") do t[#t + 1] = x end
  return t
end

local ifaces = split(env("QFP_SHIM_IFACES"))
local pcaps = split(env("QFP_SHIM_PCAPS"))
local line_pps = tonumber(env("QFP_SHIM_LINE_PPS"))
assert(#ifaces == #pcaps, "pktgen shim: one capture per interface")

local function sh(cmd)
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("a")
  local ok, _, code = f:close()
  if not ok then error("pktgen shim: `" .. cmd .. "` failed (" .. tostring(code) .. "): " .. out, 0) end
  return out
end

local function counter(iface, name)
  local f = assert(io.open("/sys/class/net/" .. iface .. "/statistics/" .. name))
  local v = tonumber(f:read("l"))
  f:close()
  return v
end

local function port_ids(list)
  local ids = {}
  if list == "all" then
    for i = 1, #ifaces do ids[#ids + 1] = i - 1 end
    return ids
  end
  for p in tostring(list):gmatch("[^,]+") do ids[#ids + 1] = tonumber(p) end
  return ids
end

local pg = { calls = {} }
local rate = {}
local pids = {}
local base = {}
local pcap_on = {}

local function raw(id)
  local i = ifaces[id + 1]
  return { opackets = counter(i, "tx_packets"), ipackets = counter(i, "rx_packets"),
    imissed = counter(i, "rx_dropped") }
end

function pg.screen() end
function pg.quit() pg.quitted = true end
function pg.portCount() return #ifaces end
function pg.pcap(list, state)
  for _, id in ipairs(port_ids(list)) do pcap_on[id] = (state == "on") end
end
function pg.set(list, what, value)
  if what ~= "rate" then error("pktgen shim: set " .. what .. " not supported", 0) end
  for _, id in ipairs(port_ids(list)) do rate[id] = tonumber(value) end
end
function pg.start(list)
  for _, id in ipairs(port_ids(list)) do
    assert(pcap_on[id], "pktgen shim: port " .. id .. " started without pcap mode")
    local pps = math.max(1, math.floor(line_pps * (rate[id] or 100) / 100))
    pids[id] = sh(string.format(
      "tcpreplay -q --pps=%d --loop=0 -i %s %s >/dev/null 2>&1 & echo $!",
      pps, ifaces[id + 1], pcaps[id + 1])):match("%d+")
    pg.calls[#pg.calls + 1] = string.format("start %d %d pps", id, pps)
  end
end
function pg.stop(list)
  for _, id in ipairs(port_ids(list)) do
    if pids[id] then
      sh("kill " .. pids[id] .. " 2>/dev/null; while kill -0 " .. pids[id] ..
        " 2>/dev/null; do sleep 0.02; done; true")
      pids[id] = nil
    end
  end
end
function pg.clr()
  for id = 0, #ifaces - 1 do base[id] = raw(id) end
end
function pg.portStats(list)
  local t = { n = 0 }
  for _, id in ipairs(port_ids(list)) do
    local r, b = raw(id), base[id] or { opackets = 0, ipackets = 0, imissed = 0 }
    t[id] = { curr = { opackets = r.opackets - b.opackets, ipackets = r.ipackets - b.ipackets,
      imissed = r.imissed - b.imissed } }
    t.n = t.n + 1
  end
  return t
end
function pg.delay(ms)
  os.execute(string.format("sleep %.3f", ms / 1000))
end

return pg
