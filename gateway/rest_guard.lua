-- REST guard, run by Envoy before the gRPC-JSON transcoder.
--
-- 1. The transcoder silently drops JSON fields the request message does not define, so a
--    misspelt field would be ignored rather than refused. This walks the JSON body against
--    the request schema (generated from the protos, prepended as ROUTES and MESSAGES) and
--    answers 400 with a google.rpc.Status naming the unknown field.
-- 2. REST responses lose the grpc-* headers the transcoder passes through. A response is told
--    apart by its content type (gRPC's is application/grpc*), so nothing is kept per request.
-- 3. Headers past MAX_HEADER_BYTES (431, or RESOURCE_EXHAUSTED for gRPC) and a REST path
--    past MAX_PATH_BYTES (414) are refused here, in the contract's error shape, before a
--    service's gRPC server would refuse them without it (limits from gateway/size_limits.py).
-- 4. A header gRPC metadata cannot carry is refused (400 INVALID_HEADER, or INVALID_ARGUMENT
--    for gRPC): a name outside [0-9a-z_.-] (HTTP/1.1 also allows !#$%&'*+^`|~), or, unless
--    the name ends in -bin, a value with a byte outside printable ASCII. Passed on, the
--    services' gRPC server would fail the call as INTERNAL (a 500).

local function fail(path, msg)
  error({ field = path, msg = msg }, 0)
end

local Parser = {}
Parser.__index = Parser

function Parser:ws()
  self.i = string.find(self.s, "[^ \t\r\n]", self.i) or (#self.s + 1)
end

function Parser:peek()
  self:ws()
  return string.sub(self.s, self.i, self.i)
end

function Parser:str(path)
  if self:peek() ~= '"' then fail(path, "expected a string") end
  local i = self.i + 1
  local parts = {}
  while true do
    local j = string.find(self.s, '["\\]', i)
    if not j then fail(path, "unterminated string") end
    parts[#parts + 1] = string.sub(self.s, i, j - 1)
    if string.sub(self.s, j, j) == '"' then
      self.i = j + 1
      return table.concat(parts)
    end
    parts[#parts + 1] = string.sub(self.s, j + 1, j + 1)
    i = j + 2
  end
end

-- Parses any JSON value. `schema` is nil (anything), a message name, or a table
-- {kind = "list"|"map", item = <message name or nil>}.
function Parser:value(schema, path)
  local c = self:peek()
  if c == "{" then
    self.i = self.i + 1
    local msg = schema and type(schema) == "string" and MESSAGES[schema] or nil
    local map = type(schema) == "table" and schema.kind == "map" and schema or nil
    if self:peek() == "}" then self.i = self.i + 1 return end
    while true do
      local key = self:str(path)
      local sub = nil
      if msg then
        sub = msg[key]
        if sub == nil then
          fail(path .. key, "is not a field of " .. string.gsub(schema, "^%.", ""))
        end
        if sub == true then sub = nil end
      elseif map then
        sub = map.item
      end
      if self:peek() ~= ":" then fail(path .. key, "expected ':'") end
      self.i = self.i + 1
      self:value(sub, path .. key .. ".")
      local d = self:peek()
      self.i = self.i + 1
      if d == "}" then return end
      if d ~= "," then fail(path, "expected ',' or '}'") end
    end
  elseif c == "[" then
    self.i = self.i + 1
    local item = type(schema) == "table" and schema.kind == "list" and schema.item or nil
    if self:peek() == "]" then self.i = self.i + 1 return end
    while true do
      self:value(item, path)
      local d = self:peek()
      self.i = self.i + 1
      if d == "]" then return end
      if d ~= "," then fail(path, "expected ',' or ']'") end
    end
  elseif c == '"' then
    self:str(path)
  else
    local j = string.find(self.s, "[,%]}%s]", self.i) or (#self.s + 1)
    if j == self.i then fail(path, "unexpected character") end
    self.i = j
  end
end

local function route_for(method, path)
  local bare = string.gsub(path, "%?.*$", "")
  for _, r in ipairs(ROUTES) do
    if r[1] == method and string.find(bare, r[2]) then return r end
  end
  return nil
end

local function json_error(field, msg)
  local text = string.gsub(field .. ": " .. msg, '[%c"\\\128-\255]', " ")
  return '{"code":3,"message":"' .. text .. '","details":[{"@type":'
    .. '"type.googleapis.com/google.rpc.ErrorInfo","reason":"UNKNOWN_FIELD",'
    .. '"domain":"botmesh.dev","metadata":{"field":"' .. string.gsub(field, '[%c"\\\128-\255]', " ")
    .. '"}}]}'
end

local function status_json(code, reason, msg)
  -- Only printable ASCII of the message: it may quote the request's bytes (not UTF-8).
  local text = string.gsub(msg, '[%c"\\\128-\255]', " ")
  return '{"code":' .. code .. ',"message":"' .. text .. '","details":[{"@type":'
    .. '"type.googleapis.com/google.rpc.ErrorInfo","reason":"' .. reason .. '",'
    .. '"domain":"botmesh.dev","metadata":{}}]}'
end

local function header_bytes(headers)
  local total = 0
  for key, value in pairs(headers) do total = total + #key + #value end
  return total
end

-- The first header gRPC metadata cannot carry, or nil. Pseudo-headers (":path") are Envoy's.
local function illegal_header(headers)
  for key, value in pairs(headers) do
    if string.sub(key, 1, 1) ~= ":" then
      if string.find(key, "[^0-9a-z_%.%-]") then return key end
      if string.sub(key, -4) ~= "-bin" and string.find(value, "[^\32-\126]") then return key end
    end
  end
  return nil
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local ctype = headers:get("content-type") or ""
  local grpc = string.find(ctype, "^application/grpc") ~= nil
  if header_bytes(headers) > MAX_HEADER_BYTES then
    local msg = "request headers may be at most " .. MAX_HEADER_BYTES .. " bytes"
    if grpc then
      handle:respond({ [":status"] = "200", ["content-type"] = "application/grpc",
        ["grpc-status"] = "8", ["grpc-message"] = msg,
        ["grpc-status-details-bin"] = HEADERS_TOO_LARGE_DETAILS }, "")
    else
      handle:respond({ [":status"] = "431", ["content-type"] = "application/json" },
        status_json(3, "HEADERS_TOO_LARGE", msg))
    end
    return
  end
  local illegal = illegal_header(headers)
  if illegal then
    local msg = "header " .. illegal .. " is not valid gRPC metadata"
    if grpc then
      handle:respond({ [":status"] = "200", ["content-type"] = "application/grpc",
        ["grpc-status"] = "3", ["grpc-message"] = "a header is not valid gRPC metadata",
        ["grpc-status-details-bin"] = INVALID_HEADER_DETAILS }, "")
    else
      handle:respond({ [":status"] = "400", ["content-type"] = "application/json" },
        status_json(3, "INVALID_HEADER", msg))
    end
    return
  end
  if grpc then return end
  if #(headers:get(":path") or "") > MAX_PATH_BYTES then
    handle:respond({ [":status"] = "414", ["content-type"] = "application/json" },
      status_json(3, "URI_TOO_LONG", "the request path and query may be at most "
        .. MAX_PATH_BYTES .. " bytes"))
    return
  end
  local method = headers:get(":method")
  if method == "GET" or method == "HEAD" or method == "OPTIONS" then return end
  local route = route_for(method, headers:get(":path") or "")
  if route == nil or route[3] == nil then return end
  local body = handle:body()
  if body == nil or body:length() == 0 then return end
  local parser = setmetatable({ s = body:getBytes(0, body:length()), i = 1 }, Parser)
  local ok, err = pcall(function()
    parser:value(route[3], "")
    if parser:peek() ~= "" then fail("", "trailing characters after the JSON value") end
  end)
  if not ok then
    local field = type(err) == "table" and err.field or ""
    local msg = type(err) == "table" and err.msg or "malformed JSON"
    field = string.gsub(field, "%.$", "")
    -- Malformed JSON is left to the transcoder, which reports it; unknown fields are ours.
    if string.find(msg, "^is not a field") then
      handle:respond({ [":status"] = "400", ["content-type"] = "application/json" },
        json_error(field, msg))
    end
  end
end

-- Envoy's own error replies (malformed JSON, unknown path or query parameter, rate limit)
-- are plain text; REST callers get the same google.rpc.Status JSON as for service errors.
local LOCAL_ERRORS = {
  ["414"] = { 3, "URI_TOO_LONG" },
  ["431"] = { 3, "HEADERS_TOO_LARGE" },
  ["400"] = { 3, "MALFORMED_REQUEST" },
  ["404"] = { 5, "UNKNOWN_ROUTE" },
  ["405"] = { 12, "METHOD_NOT_ALLOWED" },
  ["413"] = { 3, "REQUEST_TOO_LARGE" },
  ["429"] = { 8, "GATEWAY_RATE_LIMITED" },
  ["503"] = { 14, "UPSTREAM_UNAVAILABLE" },
  ["504"] = { 4, "UPSTREAM_TIMEOUT" },
}

function envoy_on_response(handle)
  local headers = handle:headers()
  local ctype = headers:get("content-type") or ""
  -- A gRPC answer (a service's, or Envoy's own reply to a gRPC request) is left as it is.
  -- Every REST answer has another type: the transcoder's JSON, Envoy's plain text.
  if string.find(ctype, "^application/grpc") then return end
  headers:remove("grpc-status")
  headers:remove("grpc-message")
  headers:remove("grpc-accept-encoding")
  headers:remove("grpc-encoding")
  local status = headers:get(":status") or "200"
  if string.sub(status, 1, 1) == "2" or string.find(ctype, "^application/json") then return end
  local known = LOCAL_ERRORS[status] or { 2, "GATEWAY_ERROR" }
  headers:replace("content-type", "application/json")
  local body = handle:body()
  local text = body and body:getBytes(0, body:length()) or ""
  text = string.gsub(string.gsub(text, "%s+", " "), "^ *(.-) *$", "%1")
  if text == "" then text = "request failed at the gateway" end
  body:setBytes(status_json(known[1], known[2], text))
end
