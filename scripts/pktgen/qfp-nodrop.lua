-- qfp-nodrop.lua: pktgen-dpdk script that finds a qfp gateway's no-drop rate.
--
-- pktgen replays the captures `qfp pcap` wrote (loaded with `-s P:file`), on every port
-- of QFP_PORTS, at rates chosen by an RFC 2544 binary search (nodrop.lua), reading qfp's
-- statistics after each trial, and prints the result table. Run it with
--
--   pktgen -l 0-2 -n 4 -- -P -m "1.0,2.1" \
--       -s 0:out/plain-64.pcap -s 1:out/esp-64.pcap -f scripts/pktgen/qfp-nodrop.lua
--
-- (port 0 cabled to the gateway's protected port, port 1 to its unprotected port), the
-- gateway running `qfp run -c qfp.toml --replay-window 0 --stats-json /run/qfp.json`.
-- Settings come from the environment (docs/bare-metal.md):
--
--   QFP_PORTS        pktgen portlist (default "0,1")
--   QFP_STATS        qfp's --stats-json file (default /run/qfp.json; "none": judge by
--                    pktgen's counters alone)
--   QFP_STATS_CMD    instead: a command printing the stats JSON, e.g.
--                    "ssh gw qfp ctl --json show stats"
--   QFP_STATS_INTERVAL  qfp's --stats-interval in seconds (default 1)
--   QFP_LO, QFP_HI   rate bounds in % of line rate (default 0, 100)
--   QFP_RESOLUTION   stop when the interval is this narrow, in % (default 0.5)
--   QFP_TRIAL_S      seconds per trial (default 10; RFC 2544 reports use 60)
--   QFP_DRAIN_MS     wait after each trial (default 500)
--   QFP_LOSS         tolerated loss fraction (default 0)
--   QFP_START_MS     wait before the first trial, for the links (default 2000)
--   QFP_LABEL        a name for the table (e.g. the frame size)
--   QFP_RESULTS      append one summary line to this file
--   QFP_QUIT         1 (default): quit pktgen when done; 0: stay at the prompt

local here = (debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./")
package.path = here .. "?.lua;" .. package.path

local nodrop = require("nodrop")
local adapter_mod = require("pktgen_adapter")

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end
local function envnum(name, default)
  local v = env(name, nil)
  if v == nil then return default end
  local n = tonumber(v)
  if not n then error(string.format("%s=%s is not a number", name, v), 0) end
  return n
end

local ports = env("QFP_PORTS", "0,1")
local stats = { cmd = env("QFP_STATS_CMD", nil) }
if not stats.cmd then stats.file = env("QFP_STATS", "/run/qfp.json") end
if stats.file == "none" then stats.file = nil end
local opts = {
  lo = envnum("QFP_LO", 0),
  hi = envnum("QFP_HI", 100),
  resolution = envnum("QFP_RESOLUTION", 0.5),
  trial_s = envnum("QFP_TRIAL_S", 10),
  drain_ms = envnum("QFP_DRAIN_MS", 500),
  loss_tolerance = envnum("QFP_LOSS", 0),
}
local label = env("QFP_LABEL", "")

if pktgen.screen then pktgen.screen("off") end
-- Replay the loaded captures rather than pktgen's single packet.
pktgen.pcap(ports, "on")

local adapter = adapter_mod.new(pktgen, {
  ports = ports,
  stats = stats,
  stats_interval_s = envnum("QFP_STATS_INTERVAL", 1),
})

-- pktgen runs -f scripts as soon as it has started its ports: give the links (and the
-- gateway's) a moment before the first trial counts anything.
adapter.sleep_ms(envnum("QFP_START_MS", 2000))

local title = "qfp no-drop rate (RFC 2544 binary search), ports " .. ports
if label ~= "" then title = title .. ", " .. label end
local res = nodrop.search(adapter, opts)
print(nodrop.table(adapter, res, title))

local results = env("QFP_RESULTS", nil)
if results then
  local f = assert(io.open(results, "a"))
  local best
  for _, t in ipairs(res.trials) do
    if t.passed and t.rate == res.rate then best = t end
  end
  f:write(string.format("%s\t%s\t%s\t%d\n", label ~= "" and label or "-",
    res.rate and adapter.rate_label(res.rate) or "none",
    best and string.format("%.3f", best.received / best.seconds / 1e6) or "-", #res.trials))
  f:close()
end

if env("QFP_QUIT", "1") == "1" and pktgen.quit then pktgen.quit() end
