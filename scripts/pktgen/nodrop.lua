-- nodrop.lua: the RFC 2544 (section 26.1) no-drop-rate search, as a pure module.
--
-- Nothing here talks to pktgen, a NIC or qfp: every action goes through an *adapter*, a
-- table of functions, so the same search runs inside pktgen-dpdk on bare metal
-- (pktgen_adapter.lua), against a fake (tests) and against a real pcap replay through
-- `qfp run` on this machine (tests/pktgen/). The adapter contract:
--
--   adapter.set_rate(rate)     offered load for the next trial (pktgen: % of line rate)
--   adapter.start()            start sending (the pcaps replay on every port)
--   adapter.stop()             stop sending
--   adapter.clear()            zero the generator's port counters (optional)
--   adapter.counters()         -> { tx = frames sent, rx = frames received, missed = n }
--                                 summed over the generator's ports
--   adapter.qfp_stats()        -> qfp's statistics document (stats JSON, decoded), or nil
--   adapter.sleep_ms(ms)
--   adapter.rate_label(rate)   -> text for the table ("12.5%", "200000 pps")
--   adapter.log(text)          (optional) progress lines
--
-- A trial offers `rate` for `trial_s` seconds, stops, waits `drain_ms` for frames in
-- flight, and compares the generator's counters and qfp's counters before and after.
-- It passes when nothing was lost: the generator got back every frame it sent (within
-- `loss_tolerance`, a fraction, 0 by default as RFC 2544 asks), qfp counted no drop and
-- its ports missed nothing. The search tries `hi` first (line rate: done if it passes),
-- then halves the interval [lo, hi] until it is narrower than `resolution`, and confirms
-- the rate it found with one more trial (RFC 2544 asks for repeatable results); a failed
-- confirmation resumes the search below it.

local M = {}

M.defaults = {
  lo = 0,             -- lowest rate considered (a rate that low is never tried)
  hi = 100,           -- first trial; pktgen: 100% of line rate
  resolution = 1,     -- stop when hi - lo <= resolution
  trial_s = 10,       -- seconds per trial (RFC 2544: at least 60 for a report)
  drain_ms = 500,     -- wait for frames in flight after stopping
  loss_tolerance = 0, -- fraction of sent frames that may be lost (0: RFC 2544)
  max_trials = 40,    -- bound on trials, whatever happens
  confirm = true,     -- repeat the found rate once
}

local function merge(opts)
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  assert(o.hi > o.lo, "nodrop: hi must be above lo")
  assert(o.resolution > 0, "nodrop: resolution must be positive")
  return o
end

local function num(x) return tonumber(x) or 0 end

-- Sum of a list of per-port tables' field `f`.
local function sum_field(list, f)
  local s = 0
  for _, p in ipairs(list or {}) do s = s + num(p[f]) end
  return s
end

-- What qfp counted between two statistics documents: drops by reason (only those that
-- moved), their total, missed frames on its ports, and frames in and out of its ports.
function M.qfp_delta(before, after)
  local d = { drops = 0, reasons = {}, missed = 0, rx = 0, tx = 0, available = false }
  if not before or not after then return d end
  d.available = true
  local b = before.drops or {}
  for name, v in pairs(after.drops or {}) do
    local n = num(v) - num(b[name])
    if n ~= 0 then
      d.reasons[name] = n
      d.drops = d.drops + n
    end
  end
  -- Frames the NIC could not deliver: ring full (missed) or no mbuf (rx_nombuf, where the
  -- stats carry it).
  d.missed = sum_field(after.ports, "missed") - sum_field(before.ports, "missed")
    + sum_field(after.ports, "rx_nombuf") - sum_field(before.ports, "rx_nombuf")
  d.rx = sum_field(after.ports, "rx") - sum_field(before.ports, "rx")
  d.tx = sum_field(after.ports, "tx") - sum_field(before.ports, "tx")
  return d
end

-- The reasons of a delta, largest first, as "NAME 12, NAME 3".
function M.reasons_text(reasons, limit)
  local list = {}
  for name, n in pairs(reasons or {}) do list[#list + 1] = { name, n } end
  table.sort(list, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[1] < b[1]
  end)
  local parts = {}
  for i = 1, math.min(#list, limit or 3) do
    parts[#parts + 1] = list[i][1] .. " " .. string.format("%d", list[i][2])
  end
  if #list > (limit or 3) then parts[#parts + 1] = "..." end
  return table.concat(parts, ", ")
end

-- One trial at `rate`; returns its record.
function M.trial(adapter, rate, opts)
  opts = merge(opts)
  if adapter.clear then adapter.clear() end
  local c0 = adapter.counters()
  local q0 = adapter.qfp_stats()
  adapter.set_rate(rate)
  adapter.start()
  adapter.sleep_ms(math.floor(opts.trial_s * 1000 + 0.5))
  adapter.stop()
  adapter.sleep_ms(opts.drain_ms)
  local c1 = adapter.counters()
  local q1 = adapter.qfp_stats()
  local t = {
    rate = rate,
    sent = num(c1.tx) - num(c0.tx),
    received = num(c1.rx) - num(c0.rx),
    gen_missed = num(c1.missed) - num(c0.missed),
    seconds = opts.trial_s,
  }
  t.lost = t.sent - t.received
  t.qfp = M.qfp_delta(q0, q1)
  local allowed = math.floor(opts.loss_tolerance * t.sent)
  t.passed = t.sent > 0 and t.lost <= allowed and t.qfp.drops <= allowed
    and t.qfp.missed <= allowed
  return t
end

-- The binary search. Returns { rate = highest passing rate or nil, trials = {...},
-- opts = the options used, stopped = why it ended }.
function M.search(adapter, opts)
  opts = merge(opts)
  local log = adapter.log or function() end
  local res = { trials = {}, opts = opts }
  local function run(rate)
    local t = M.trial(adapter, rate, opts)
    res.trials[#res.trials + 1] = t
    log(M.trial_line(adapter, t))
    return t.passed
  end
  local lo, hi = opts.lo, opts.hi
  local best = nil
  if run(hi) then
    best = hi
  end
  while best ~= hi do
    -- [lo, hi): lo passed (or is the floor), hi failed.
    while hi - lo > opts.resolution and #res.trials < opts.max_trials do
      local mid = lo + (hi - lo) / 2
      if run(mid) then lo, best = mid, mid else hi = mid end
    end
    if best == nil or not opts.confirm or #res.trials >= opts.max_trials then break end
    if run(best) then break end
    -- Not repeatable: the found rate is a failure now; search below it.
    hi, best = best, nil
    lo = opts.lo
    for i = #res.trials - 1, 1, -1 do
      local t = res.trials[i]
      if t.passed and t.rate < hi and t.rate > lo then lo, best = t.rate, t.rate end
    end
    if hi - lo <= opts.resolution then break end
  end
  res.rate = best
  if #res.trials >= opts.max_trials then
    res.stopped = "max_trials"
  elseif best == opts.hi then
    res.stopped = "no drop at the highest rate"
  elseif best == nil then
    res.stopped = "every rate tried lost frames"
  else
    res.stopped = "resolution reached"
  end
  return res
end

function M.trial_line(adapter, t)
  local q = t.qfp
  return string.format("%-12s sent %d received %d lost %d qfp drops %d missed %d %s%s",
    adapter.rate_label(t.rate), t.sent, t.received, t.lost, q.drops, q.missed + t.gen_missed,
    t.passed and "PASS" or "FAIL",
    (q.drops > 0) and ("  (" .. M.reasons_text(q.reasons) .. ")") or "")
end

local function fmt_mpps(n, s)
  if not s or s <= 0 then return "-" end
  return string.format("%.3f", n / s / 1e6)
end

-- The result table: one row per trial in the order run, then the answer.
function M.table(adapter, res, title)
  local out = {}
  local function p(fmt, ...) out[#out + 1] = string.format(fmt, ...) end
  p("# %s", title or "qfp no-drop rate (RFC 2544 binary search)")
  p("%-5s %-12s %14s %14s %12s %10s %8s %9s %9s  %s", "trial", "rate", "sent", "received",
    "lost", "qfp drops", "missed", "tx Mpps", "rx Mpps", "result")
  for i, t in ipairs(res.trials) do
    p("%-5d %-12s %14d %14d %12d %10d %8d %9s %9s  %s%s", i, adapter.rate_label(t.rate),
      t.sent, t.received, t.lost, t.qfp.drops, t.qfp.missed + t.gen_missed,
      fmt_mpps(t.sent, t.seconds), fmt_mpps(t.received, t.seconds),
      t.passed and "pass" or "FAIL",
      (t.qfp.drops > 0) and ("  " .. M.reasons_text(t.qfp.reasons)) or "")
  end
  if res.rate then
    local rx = 0
    for _, t in ipairs(res.trials) do
      if t.passed and t.rate == res.rate then rx = math.max(rx, t.received / t.seconds) end
    end
    p("no-drop rate: %s (%.3f Mpps received, both directions) - %s", adapter.rate_label(res.rate),
      rx / 1e6, res.stopped)
  else
    p("no-drop rate: none above %s - %s", adapter.rate_label(res.opts.lo), res.stopped)
  end
  return table.concat(out, "\n")
end

return M
