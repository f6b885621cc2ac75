-- enneo-edge for FreeSWITCH (mod_lua + mod_curl, FreeSWITCH 1.10).
--
-- One script, three entry points:
--   lookup   (the dialplan, before the bridge): <action application="lua" data="enneo.lua"/>
--            callReceived; sets enneo_ticket_id, enneo_customer_id,
--            enneo_queue_id and enneo_lookup = ok | failed; arranges the two
--            below. The call goes on in any case: fail open.
--   agent    (the agent's leg, when it answers; set up by lookup):
--            agentConnected with the agent's enneo_user_id (a directory
--            user variable).
--   completed (api_hangup_hook of the caller's leg; set up by lookup):
--            callCompleted.
--
-- NOT RUN inside a real FreeSWITCH (none in Debian 12's archive):
-- tests/pbx/replay_test.go runs this script under Lua 5.4 with stand-ins for
-- session and freeswitch.API whose "curl" performs mod_curl's request against
-- a real edge. See README.md.

---- site settings ------------------------------------------------------------
-- The edge and a second edge, tried in this order. One edge only: list it
-- twice (the second try is a retry).
local EDGES = { "http://127.0.0.1:8005", "http://127.0.0.1:8005" }
local TOKEN = "CHANGE-ME"
-- external: FreeSWITCH routes the call; native: the edge routes it (poll
-- getRouting with enneo_ticket_id); none: ticket only.
local ROUTING = "external"
-- mod_curl's limits, in whole seconds. Its defaults are none at all: a silent
-- edge would hold the caller as long as the TCP connection lives.
local CONNECT_TIMEOUT = 1
local TIMEOUT = 2
---------------------------------------------------------------------------------

local api = freeswitch.API()

local function log(level, msg)
	freeswitch.consoleLog(level, "enneo-edge: " .. msg .. "\n")
end

-- POST body (JSON) to path on each edge in turn until one answers success.
-- Returns the answer, or nil when none did. mod_curl splits its arguments on
-- spaces and URL-decodes the post data, so the body goes percent-encoded
-- (spaces, %, control characters). The token goes in
-- x-internal-communication-token: append_headers takes name:value without
-- spaces, which rules out "Authorization: Bearer ...".
local function post(path, body)
	body = body:gsub("[%%%c ]", function(c) return string.format("%%%02X", c:byte()) end)
	for _, base in ipairs(EDGES) do
		local args = string.format(
			"%s%s content-type application/json connect-timeout %d timeout %d append_headers x-internal-communication-token:%s post %s",
			base, path, CONNECT_TIMEOUT, TIMEOUT, TOKEN, body)
		local answer = api:execute("curl", args)
		if answer and answer:find('"success":true', 1, true) then
			return answer
		end
		log("WARNING", base .. path .. " gave no success: " .. tostring(answer))
	end
	return nil
end

-- The value of a top-level key of the edge's answer: a number or a string
-- ("null" and anything else: nil). The answers are flat JSON from the edge.
local function field(answer, key)
	local n = answer:match('"' .. key .. '":(%d+)')
	if n then
		return n
	end
	return answer:match('"' .. key .. '":"([^"\\]*)"')
end

local mode = argv and argv[1] or "lookup"

if mode == "lookup" then
	-- channelId is the call's uuid: unique, and the same on a retry, so a
	-- repeat is the same ticket.
	local uuid = session:get_uuid()
	-- Digits and + only: the number goes into JSON unescaped.
	local phone = (session:getVariable("caller_id_number") or ""):gsub("[^+0-9]", "")
	local answer = post("/api/mind/telephony/callReceived", string.format(
		'{"routing":"%s","channelId":"%s","phone":"%s"}', ROUTING, uuid, phone))
	local ticket = answer and field(answer, "ticketId")
	if not ticket then
		-- Fail open: the dialplan goes on to the default queue.
		session:setVariable("enneo_lookup", "failed")
		log("WARNING", "lookup failed for " .. uuid .. ": failing open")
		return
	end
	session:setVariable("enneo_lookup", "ok")
	session:setVariable("enneo_ticket_id", ticket)
	session:setVariable("enneo_customer_id", field(answer, "customerId") or "")
	session:setVariable("enneo_queue_id", field(answer, "queueId") or "")
	-- Hang-up of the caller: callCompleted, in the background.
	session:setVariable("api_hangup_hook", string.format(
		"lua enneo.lua completed %s %s %d", ticket, uuid, os.time()))
	-- The agent's leg, once it answers: agentConnected.
	session:execute("export", "nolocal:enneo_channel=" .. uuid)
	session:execute("export", "nolocal:execute_on_answer=lua enneo.lua agent")
elseif mode == "agent" then
	local channel = session:getVariable("enneo_channel")
	local user = tonumber(session:getVariable("enneo_user_id") or "")
	if channel and user then
		post("/api/mind/telephony/agentConnected", string.format(
			'{"channelId":"%s","userId":%d}', channel, user))
	end
elseif mode == "completed" then
	local ticket, uuid, started = argv[2], argv[3], tonumber(argv[4]) or os.time()
	-- A bot's transcript goes into "transcript" as
	-- [{"speaker":"customer","message":"..."}] (JSON-escaped messages).
	post("/api/mind/telephony/callCompleted", string.format(
		'{"ticketId":%s,"channelId":"%s","transcript":[],"totalDurationSeconds":%d}',
		ticket, uuid, os.time() - started))
end
