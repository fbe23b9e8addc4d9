-- json.lua: a small strict JSON decoder (RFC 8259) for qfp's statistics document.
--
-- pktgen-dpdk embeds a bare Lua with no JSON library, and qfp's stats (`qfp run
-- --stats-json FILE`, `qfp ctl --json show stats`) are JSON, so the no-drop search
-- carries its own decoder. Objects become tables, arrays 1-based lists, null becomes
-- json.null (a sentinel, so a present-but-null key stays distinguishable), numbers Lua
-- numbers. Errors are raised with the byte offset.

local M = {}

M.null = setmetatable({}, { __tostring = function() return "null" end })

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8_of(cp)
  if utf8 and utf8.char then return utf8.char(cp) end
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)) end
  if cp < 0x10000 then
    return string.char(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f))
  end
  return string.char(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f),
    0x80 | (cp & 0x3f))
end

function M.decode(s)
  local pos = 1
  local function fail(what) error(string.format("json: %s at byte %d", what, pos), 0) end
  local function ws() pos = s:find("[^ \t\r\n]", pos) or (#s + 1) end
  local value
  local function str()
    pos = pos + 1
    local parts = {}
    while true do
      local a, b = s:find('["\\%c]', pos)
      if not a then fail("unterminated string") end
      parts[#parts + 1] = s:sub(pos, a - 1)
      local c = s:sub(a, a)
      if c == '"' then pos = a + 1; break end
      if c ~= "\\" then pos = a; fail("control character in string") end
      local e = s:sub(a + 1, a + 1)
      if e == "u" then
        local hex = s:match("^%x%x%x%x", a + 2)
        if not hex then pos = a; fail("bad \\u escape") end
        local cp = tonumber(hex, 16)
        pos = a + 6
        if cp >= 0xd800 and cp <= 0xdbff then
          local lo = s:match("^\\u(%x%x%x%x)", pos)
          local l = lo and tonumber(lo, 16)
          if not l or l < 0xdc00 or l > 0xdfff then fail("lone surrogate") end
          cp = 0x10000 + ((cp - 0xd800) << 10) + (l - 0xdc00)
          pos = pos + 6
        end
        parts[#parts + 1] = utf8_of(cp)
      else
        local r = escapes[e]
        if not r then pos = a; fail("bad escape") end
        parts[#parts + 1] = r
        pos = a + 2
      end
    end
    return table.concat(parts)
  end
  local function number()
    local n = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not n or n == "" or n == "-" then fail("bad number") end
    local v = tonumber(n)
    if not v then fail("bad number") end
    pos = pos + #n
    return v
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      pos = pos + 1
      local t = {}
      ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws()
        if s:sub(pos, pos) ~= '"' then fail("expected a key") end
        local k = str()
        ws()
        if s:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        t[k] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return t end
        if d ~= "," then pos = pos - 1; fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      pos = pos + 1
      local t = {}
      ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return t end
        if d ~= "," then pos = pos - 1; fail("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif c == "-" or c:match("%d") then
      return number()
    elseif s:sub(pos, pos + 3) == "true" then
      pos = pos + 4; return true
    elseif s:sub(pos, pos + 4) == "false" then
      pos = pos + 5; return false
    elseif s:sub(pos, pos + 3) == "null" then
      pos = pos + 4; return M.null
    end
    fail("unexpected " .. (c == "" and "end of input" or ("'" .. c .. "'")))
  end
  local v = value()
  ws()
  if pos <= #s then fail("trailing characters") end
  return v
end

return M
