-- wrk script: POST /v1/decisions with real applications, one per request,
-- cycling through the bodies written by
--   glassbox loadtest --data testdata/credit_test.csv --write-bodies FILE
-- Environment: GLASSBOX_BODIES (that FILE) and GLASSBOX_API_KEY (a lender
-- key). wrk counts any answer other than 2xx/3xx under "Non-2xx or 3xx
-- responses"; a valid run has none.
--
--   GLASSBOX_BODIES=/tmp/bodies.jsonl GLASSBOX_API_KEY=KEY \
--     wrk -t1 -c64 -d10s --latency -s scripts/wrk-decisions.lua http://127.0.0.1:8080

local bodies = {}
local next_body = 1

function init(args)
  local path = os.getenv("GLASSBOX_BODIES")
  assert(path, "set GLASSBOX_BODIES to the file written by glassbox loadtest --write-bodies")
  for line in io.lines(path) do
    if #line > 0 then
      bodies[#bodies + 1] = line
    end
  end
  assert(#bodies > 0, "no bodies in " .. path)
  wrk.method = "POST"
  wrk.path = "/v1/decisions"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("GLASSBOX_API_KEY"), "set GLASSBOX_API_KEY")
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end
