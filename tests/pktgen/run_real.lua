-- run_real.lua: runs the shipped scripts/pktgen/qfp-nodrop.lua, unchanged, inside the
-- pktgen shim (pktgen_shim.lua: tcpreplay into veths that a `qfp run` polls), and
-- writes every trial of the search as a line of QFP_TRIALS_OUT for the Rust test
-- (tests/e2e/pktgen.rs) to check against qfp's own counters:
--   rate  sent  received  lost  qfp_drops  qfp_missed  qfp_rx  qfp_tx  passed  reasons
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local root = here .. "../../"
package.path = here .. "?.lua;" .. root .. "scripts/pktgen/?.lua;" .. package.path

_G.pktgen = dofile(here .. "pktgen_shim.lua")
local nodrop = require("nodrop")
local search = nodrop.search
local captured
nodrop.search = function(...)
  captured = search(...)
  return captured
end

local ok, err = pcall(dofile, root .. "scripts/pktgen/qfp-nodrop.lua")
pktgen.stop("all")
if not ok then
  io.stderr:write("run_real: " .. tostring(err) .. "\n")
  os.exit(1)
end
local f = assert(io.open(assert(os.getenv("QFP_TRIALS_OUT")), "w"))
for _, t in ipairs(captured.trials) do
  f:write(string.format("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", tostring(t.rate), t.sent,
    t.received, t.lost, t.qfp.drops, t.qfp.missed, t.qfp.rx, t.qfp.tx, tostring(t.passed),
    nodrop.reasons_text(t.qfp.reasons, 10)))
end
f:close()
assert(pktgen.quitted, "qfp-nodrop.lua did not quit pktgen")
