-- Tests of the pktgen material in scripts/pktgen/ against fakes, with lua5.4:
--   lua5.4 tests/pktgen/test_nodrop.lua
-- (run by `cargo test -p qfp-tests --test pktgen`). Exits 1 and names the failed check
-- when one fails. The real run (a pcap replay through `qfp run`) is in run_real.lua.

local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local root = here .. "../../"
package.path = root .. "scripts/pktgen/?.lua;" .. package.path

local nodrop = require("nodrop")
local json = require("json")
local pktgen_adapter = require("pktgen_adapter")

local failures, checks = 0, 0
local function check(name, fn)
  checks = checks + 1
  local ok, err = pcall(fn)
  if ok then
    print("ok   " .. name)
  else
    failures = failures + 1
    print("FAIL " .. name .. ": " .. tostring(err))
  end
end
local function eq(a, b, what)
  if a ~= b then error(string.format("%s: expected %s, got %s", what, tostring(b), tostring(a)), 2) end
end

-- A simulated gateway: offered `rate` (percent of `line_pps` per port, two ports) for
-- `trial_s`; it forwards at most `capacity_pps` (both ports together) and drops the rest
-- as IpsecTailDrop in its stats document, like qfp's handoff ring would. `flaky` rates
-- fail once in a while (to exercise the confirmation).
local function world(cfg)
  local w = { rate = 0, sending = false, tx = 0, rx = 0, drops = 0, uptime = 0, trials = 0,
    flaky = cfg.flaky or {}, log = {} }
  local a = {}
  function a.set_rate(r) w.rate = r end
  function a.start() w.sending = true; w.trials = w.trials + 1 end
  function a.stop() w.sending = false end
  function a.clear() w.tx, w.rx = 0, 0 end
  function a.sleep_ms(ms)
    local s = ms / 1000
    w.uptime = w.uptime + s
    if w.sending then
      local offered = math.floor(2 * cfg.line_pps * w.rate / 100 * s)
      local through = math.min(offered, math.floor(cfg.capacity_pps * s))
      if w.flaky[w.rate] and w.flaky[w.rate] > 0 then
        w.flaky[w.rate] = w.flaky[w.rate] - 1
        through = through - 1
      end
      w.tx = w.tx + offered
      w.rx = w.rx + through
      w.drops = w.drops + (offered - through)
    end
  end
  function a.counters() return { tx = w.tx, rx = w.rx, missed = 0 } end
  function a.qfp_stats()
    return {
      uptime_s = w.uptime,
      ports = { { port = 0, rx = w.tx, tx = w.rx, missed = 0 }, { port = 1, rx = 0, tx = 0, missed = 0 } },
      drops = { IpsecTailDrop = w.drops, IN_US_V4_PKT_SA_NOT_FOUND_SPI = 0 },
    }
  end
  function a.rate_label(r) return string.format("%.4g%%", r) end
  function a.log(l) w.log[#w.log + 1] = l end
  return a, w
end

check("search converges just below the capacity, within the resolution", function()
  local a, w = world({ line_pps = 1e6, capacity_pps = 1.23e6 })
  local res = nodrop.search(a, { trial_s = 1, drain_ms = 0, resolution = 0.5 })
  -- capacity 1.23 Mpps of 2 Mpps line = 61.5%
  assert(res.rate and res.rate <= 61.5 and res.rate > 61.5 - 0.5 - 1e-9,
    "found " .. tostring(res.rate))
  eq(res.stopped, "resolution reached", "stopped")
  -- log2(100 / 0.5) = 7.6: 1 at line rate + 8 halvings + 1 confirmation
  assert(#res.trials <= 10, #res.trials .. " trials")
  eq(w.trials, #res.trials, "every trial started the generator once")
  for _, t in ipairs(res.trials) do
    eq(t.passed, t.rate <= 61.5, "trial at " .. t.rate)
    if not t.passed then
      eq(t.qfp.reasons.IpsecTailDrop, t.lost, "qfp's drops explain the loss")
    end
  end
end)

check("no drop at line rate: one trial and the answer is the highest rate", function()
  local a = world({ line_pps = 1e6, capacity_pps = 5e6 })
  local res = nodrop.search(a, { trial_s = 1, drain_ms = 0 })
  eq(res.rate, 100, "rate")
  eq(#res.trials, 1, "trials")
  eq(res.stopped, "no drop at the highest rate", "stopped")
end)

check("a gateway that always loses gives no rate", function()
  local a = world({ line_pps = 1e6, capacity_pps = 0 })
  local res = nodrop.search(a, { trial_s = 1, drain_ms = 0, resolution = 1 })
  eq(res.rate, nil, "rate")
  eq(res.stopped, "every rate tried lost frames", "stopped")
  local text = nodrop.table(a, res, "t")
  assert(text:find("no%-drop rate: none above 0%%"), text)
end)

check("qfp drops fail a trial even when the generator's counters balance", function()
  local a, w = world({ line_pps = 1e6, capacity_pps = 5e6 })
  local real = a.qfp_stats
  local n = 0
  a.qfp_stats = function()
    local d = real()
    n = n + 1
    d.drops.IpsecReplayFailed = (n >= 2) and 3 or 0
    return d
  end
  local t = nodrop.trial(a, 10, { trial_s = 1, drain_ms = 0 })
  eq(t.lost, 0, "generator loss")
  eq(t.qfp.drops, 3, "qfp drops")
  eq(t.passed, false, "passed")
end)

check("loss tolerance lets a small fraction through", function()
  local a = world({ line_pps = 1e6, capacity_pps = 1.99e6 })
  local strict = nodrop.trial(a, 100, { trial_s = 1, drain_ms = 0 })
  eq(strict.passed, false, "strict")
  local loose = nodrop.trial(a, 100, { trial_s = 1, drain_ms = 0, loss_tolerance = 0.01 })
  eq(loose.passed, true, "1% tolerance")
end)

check("a found rate that fails its confirmation is not reported", function()
  -- capacity at 61.5%; the search's last passing rate (60.9375) fails once when repeated.
  local a = world({ line_pps = 1e6, capacity_pps = 1.23e6 })
  local probe = nodrop.search(a, { trial_s = 1, drain_ms = 0, resolution = 0.5, confirm = false })
  local found = probe.rate
  local b, wb = world({ line_pps = 1e6, capacity_pps = 1.23e6, flaky = {} })
  -- make only the confirmation fail: the first trial at `found` passes, the second not
  local seen = 0
  local start = b.start
  b.start = function()
    start()
    if wb.rate == found then
      seen = seen + 1
      if seen == 2 then wb.flaky[found] = 1 end
    end
  end
  local res = nodrop.search(b, { trial_s = 1, drain_ms = 0, resolution = 0.5 })
  assert(res.rate ~= found, "reported the unconfirmed rate " .. tostring(found))
  assert(res.rate == nil or res.rate < found, "result above the failed rate")
  assert(#res.trials <= res.opts.max_trials, "bounded")
end)

check("max_trials bounds the search", function()
  local a = world({ line_pps = 1e6, capacity_pps = 1.23e6 })
  local res = nodrop.search(a, { trial_s = 1, drain_ms = 0, resolution = 1e-9, max_trials = 5 })
  eq(#res.trials, 5, "trials")
  eq(res.stopped, "max_trials", "stopped")
end)

check("bad options are refused", function()
  local a = world({ line_pps = 1, capacity_pps = 1 })
  assert(not pcall(nodrop.search, a, { lo = 50, hi = 10 }), "hi below lo")
  assert(not pcall(nodrop.search, a, { resolution = 0 }), "zero resolution")
end)

check("reasons_text orders by count and truncates", function()
  eq(nodrop.reasons_text({ A = 1, B = 5, C = 5, D = 2 }, 3), "B 5, C 5, D 2, ...", "text")
  eq(nodrop.reasons_text({}, 3), "", "empty")
end)

check("json decodes a qfp stats document", function()
  local doc = json.decode([[
    { "uptime_s": 12.5, "final": true, "ports": [ { "port": 0, "rx": 10, "tx": 9, "missed": 1 } ],
      "drops": { "IN_US_V4_PKT_SA_NOT_FOUND_SPI": 7, "IpsecTailDrop": 0 },
      "tunnels": [ { "name": "br\u00e9-1\n", "sa": [] } ], "x": null, "neg": -1.5e3 } ]])
  eq(doc.uptime_s, 12.5, "uptime")
  eq(doc.final, true, "final")
  eq(doc.ports[1].missed, 1, "missed")
  eq(doc.drops.IN_US_V4_PKT_SA_NOT_FOUND_SPI, 7, "drop")
  eq(doc.tunnels[1].name, "br\xc3\xa9-1\n", "escapes")
  eq(doc.x, json.null, "null")
  eq(doc.neg, -1500, "number")
  eq(#doc.tunnels[1].sa, 0, "empty array")
end)

check("json refuses what is not JSON", function()
  for _, bad in ipairs({ "", "{", "{\"a\" 1}", "[1,]", "[1 2]", "\"\\x\"", "01x", "{\"a\":1} x", "tru" }) do
    assert(not pcall(json.decode, bad), "accepted " .. bad)
  end
end)

check("qfp_delta counts only what moved", function()
  local d = nodrop.qfp_delta(
    { drops = { A = 5, B = 1 }, ports = { { rx = 10, tx = 10, missed = 0 } } },
    { drops = { A = 5, B = 4, C = 2 }, ports = { { rx = 30, tx = 25, missed = 2, rx_nombuf = 1 } } })
  eq(d.drops, 5, "drops")
  eq(d.reasons.A, nil, "A unchanged")
  eq(d.reasons.B, 3, "B")
  eq(d.missed, 3, "missed")
  eq(d.rx, 20, "rx")
  eq(d.available, true, "available")
  eq(nodrop.qfp_delta(nil, nil).available, false, "no stats")
end)

-- A fake pktgen global: records calls; portStats in the old or the new shape.
local function fake_pktgen(shape)
  local pg = { calls = {}, stats = { [0] = { tx = 0, rx = 0 }, [1] = { tx = 0, rx = 0 } } }
  local function rec(...) pg.calls[#pg.calls + 1] = table.concat({ ... }, " ") end
  function pg.set(p, what, v) rec("set", p, what, tostring(v)) end
  function pg.start(p) rec("start", p) end
  function pg.stop(p) rec("stop", p) end
  function pg.clr() rec("clr") end
  function pg.pcap(p, s) rec("pcap", p, s) end
  function pg.screen(s) rec("screen", s) end
  function pg.delay(ms) rec("delay", tostring(ms)) end
  function pg.quit() rec("quit") end
  function pg.portStats(p, kind)
    local t = {}
    for id, s in pairs(pg.stats) do
      local c = { opackets = s.tx, ipackets = s.rx, imissed = 0 }
      if shape == "new" then
        if kind ~= nil then error("portStats, wrong number of arguments") end
        t[id] = { curr = c }
      else
        if kind ~= "port" then error("portStats, wrong number of arguments") end
        t[id] = c
      end
    end
    t.n = 2
    return t
  end
  return pg
end

check("pktgen adapter: port lists", function()
  eq(table.concat(pktgen_adapter.port_ids("0,1"), " "), "0 1", "0,1")
  eq(table.concat(pktgen_adapter.port_ids("0-2,5"), " "), "0 1 2 5", "ranges")
  eq(table.concat(pktgen_adapter.port_ids("all", 3), " "), "0 1 2", "all")
  assert(not pcall(pktgen_adapter.port_ids, "x"), "bad list")
end)

for _, shape in ipairs({ "new", "old" }) do
  check("pktgen adapter drives pktgen and sums both ports (" .. shape .. " portStats)", function()
    local pg = fake_pktgen(shape)
    local a = pktgen_adapter.new(pg, { ports = "0,1" })
    pg.stats[0] = { tx = 100, rx = 40 }
    pg.stats[1] = { tx = 50, rx = 105 }
    local c = a.counters()
    eq(c.tx, 150, "tx")
    eq(c.rx, 145, "rx")
    a.set_rate(12.5); a.start(); a.sleep_ms(250); a.stop(); a.clear()
    eq(table.concat(pg.calls, "; "), "set 0,1 rate 12.5; start 0,1; delay 250; stop 0,1; clr", "calls")
    eq(a.qfp_stats(), nil, "no stats source")
  end)
end

check("pktgen adapter reads the stats file and waits for a fresh document", function()
  local path = os.tmpname()
  local function write(uptime, drops)
    local f = assert(io.open(path, "w"))
    f:write(string.format('{"uptime_s": %s, "drops": {"IpsecTailDrop": %d}, "ports": []}', uptime, drops))
    f:close()
  end
  write(1, 0)
  local pg = fake_pktgen("new")
  local delays = 0
  pg.delay = function() delays = delays + 1; if delays == 2 then write(2, 9) end end
  local a = pktgen_adapter.new(pg, { ports = "0,1", stats = { file = path }, stats_interval_s = 1 })
  local doc = a.qfp_stats()
  eq(doc.uptime_s, 2, "fresh document")
  eq(doc.drops.IpsecTailDrop, 9, "drops")
  eq(delays, 2, "polled until the document changed")
  write("x", 0)
  local ok, err = pcall(a.qfp_stats)
  assert(not ok and tostring(err):find(path, 1, true), "a bad document names its file: " .. tostring(err))
  os.remove(path)
end)

check("the stats reader runs a command (qfp ctl --json show stats) and names it when it fails", function()
  local qfpstats = require("qfpstats")
  local read = qfpstats.reader({ cmd = [[printf '{"uptime_s": 3, "drops": {"TxFull": 4}}']] })
  eq(read().drops.TxFull, 4, "decoded command output")
  local bad = qfpstats.reader({ cmd = "exit 3" })
  local ok, err = pcall(bad)
  assert(not ok and tostring(err):find("exit 3", 1, true), "failed command: " .. tostring(err))
  local junk = qfpstats.reader({ cmd = "echo not json" })
  ok, err = pcall(junk)
  assert(not ok and tostring(err):find("echo not json", 1, true), "bad output: " .. tostring(err))
  eq(qfpstats.reader({})(), nil, "no source")
end)

check("qfp-nodrop.lua runs inside a (fake) pktgen and prints the table", function()
  -- A fake pktgen whose ports carry what a simulated gateway forwards (capacity 30%).
  local pg = fake_pktgen("new")
  local rate, sending = 0, false
  pg.set = function(_, what, v) if what == "rate" then rate = tonumber(v) end end
  pg.start = function() sending = true end
  pg.stop = function() sending = false end
  pg.clr = function() pg.stats[0] = { tx = 0, rx = 0 }; pg.stats[1] = { tx = 0, rx = 0 } end
  pg.delay = function(ms)
    if sending then
      local per_port = math.floor(1e6 * rate / 100 * ms / 1000)
      local through = math.min(per_port, math.floor(0.3e6 * ms / 1000))
      for id = 0, 1 do
        pg.stats[id].tx = pg.stats[id].tx + per_port
        pg.stats[1 - id].rx = pg.stats[1 - id].rx + through
      end
    end
  end
  local quit = false
  pg.quit = function() quit = true end
  pg.pcap = function(p, s) pg.pcap_on = p .. " " .. s end
  _G.pktgen = pg
  local results = os.tmpname()
  local env = { QFP_TRIAL_S = "1", QFP_DRAIN_MS = "0", QFP_RESOLUTION = "1", QFP_LABEL = "64",
    QFP_RESULTS = results, QFP_STATS = "none", QFP_STATS_CMD = "" }
  local real_getenv = os.getenv
  os.getenv = function(k) if env[k] ~= nil then return env[k] end return real_getenv(k) end
  local out = {}
  local real_print = print
  print = function(...) out[#out + 1] = table.concat({ ... }, "\t") end
  local ok, err = pcall(dofile, root .. "scripts/pktgen/qfp-nodrop.lua")
  print, os.getenv, _G.pktgen = real_print, real_getenv, nil
  assert(ok, err)
  local text = table.concat(out, "\n")
  assert(text:find("qfp no%-drop rate %(RFC 2544 binary search%), ports 0,1, 64"), text)
  assert(text:find("no%-drop rate: 29%.%d+%%"), text)
  eq(pg.pcap_on, "0,1 on", "pcap replay enabled")
  eq(quit, true, "quit at the end")
  local f = assert(io.open(results))
  local line = f:read("l")
  f:close()
  os.remove(results)
  assert(line:match("^64\t29%.%d+%%\t0%.59%d\t%d+$"), "results line: " .. tostring(line))
end)

print(string.format("%d checks, %d failed", checks, failures))
os.exit(failures == 0 and 0 or 1)
