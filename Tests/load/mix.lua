-- wrk script: GET requests cycling over a list of API paths, with a bearer token.
--   SENDENSE_PATHS  comma-separated paths, e.g. /api/v1/health,/api/v1/jobs
--   SENDENSE_TOKEN  the bearer token (left out for anonymous routes)
--   SENDENSE_DELAY_MS  a pause before each connection's next request (a steady rate, not saturation)
-- Each thread walks the list from its own starting point, and its connections
-- take the requests in turn, so every route is under load the whole time.
local paths = {}
for path in string.gmatch(os.getenv("SENDENSE_PATHS") or "/api/v1/health", "[^,]+") do
  paths[#paths + 1] = path
end
local headers = {}
local token = os.getenv("SENDENSE_TOKEN")
if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("start", threads)
end

local position = 0
function init(args)
  position = (start or 0) % #paths
end

function request()
  position = position % #paths + 1
  return wrk.format("GET", paths[position], headers)
end

local pause = tonumber(os.getenv("SENDENSE_DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause
  end
end
