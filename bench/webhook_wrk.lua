-- wrk script for bench/webhook.sh: POSTs one AdmissionReview and checks every answer.
--
--   wrk -t2 -c16 -d10s --latency -s bench/webhook_wrk.lua https://127.0.0.1:PORT/mutate -- REVIEW.json
--
-- An answer is good when it is HTTP 200 and carries "allowed":true and a "patch" string;
-- done() prints the good and failed counts of all threads (and the first failure's status).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"), "usage: ... -- REVIEW.json")
  wrk.method = "POST"
  wrk.body = file:read("*a")
  wrk.headers["Content-Type"] = "application/json"
  file:close()
  good, bad, first_bad = 0, 0, ""
end

function response(status, headers, body)
  if status == 200 and body:find('"allowed":true', 1, true) and body:find('"patch":"', 1, true) then
    good = good + 1
  else
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. body:sub(1, 120) end
  end
end

function done(summary, latency, requests)
  local g, b, example = 0, 0, ""
  for _, thread in ipairs(threads) do
    g = g + thread:get("good")
    b = b + thread:get("bad")
    if example == "" then example = thread:get("first_bad") end
  end
  io.write(string.format("answers allowed with a patch: %d; failures: %d\n", g, b))
  if b > 0 then io.write("  e.g. " .. example .. "\n") end
end
