-- qfpstats.lua: reads qfp's statistics document for the no-drop search, from the file
-- `qfp run --stats-json FILE` rewrites every --stats-interval, or from a command such as
-- `qfp ctl --json show stats` (when the gateway runs on another machine: wrap it in ssh).
--
-- A file is rewritten atomically (rename), so a read never sees half a document; a
-- command's output is read whole. Either way a document that does not decode is an error
-- that names the source: a search that silently ignored qfp's counters would call a
-- lossy rate clean.

local json = require("json")

local M = {}

local function read_all(f)
  local s = f:read("a")
  return s
end

-- A function returning the current document (decoded), or nil if `source` is empty.
-- `source` is { file = PATH } or { cmd = "shell command" }.
function M.reader(source)
  source = source or {}
  if source.file and source.file ~= "" then
    return function()
      local f, err = io.open(source.file, "r")
      if not f then error("qfp stats: cannot open " .. source.file .. ": " .. tostring(err), 0) end
      local s = read_all(f)
      f:close()
      local ok, doc = pcall(json.decode, s)
      if not ok then error("qfp stats: " .. source.file .. ": " .. doc, 0) end
      return doc
    end
  elseif source.cmd and source.cmd ~= "" then
    return function()
      local f = io.popen(source.cmd, "r")
      if not f then error("qfp stats: cannot run " .. source.cmd, 0) end
      local s = read_all(f)
      local ok_close, _, code = f:close()
      if not ok_close then
        error("qfp stats: `" .. source.cmd .. "` failed (status " .. tostring(code) .. ")", 0)
      end
      local ok, doc = pcall(json.decode, s)
      if not ok then error("qfp stats: `" .. source.cmd .. "`: " .. doc, 0) end
      return doc
    end
  end
  return function() return nil end
end

-- Waits until the document's uptime moves past `after_uptime` (so counters read after a
-- trial include everything up to its end), at most `timeout_ms`. `sleep_ms` is the
-- adapter's sleep. Returns the newest document.
function M.fresh(read, sleep_ms, after_uptime, timeout_ms)
  local doc = read()
  local waited = 0
  while doc and after_uptime and tonumber(doc.uptime_s or 0) <= after_uptime
    and waited < (timeout_ms or 3000) do
    sleep_ms(100)
    waited = waited + 100
    doc = read()
  end
  return doc
end

return M
