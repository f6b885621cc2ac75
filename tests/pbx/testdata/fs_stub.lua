-- Stand-ins for FreeSWITCH's Lua API, to run integrations/freeswitch/enneo.lua
-- outside FreeSWITCH (tests/pbx/replay_test.go):
--   lua5.4 fs_stub.lua SCRIPT UUID [name=value ...] -- [script argv ...]
-- UUID "" means no session (the api_hangup_hook case). What the script does
-- goes to stdout, one line each: "CURL\t<mod_curl arguments>" (answered by
-- one line on stdin: the response body, as mod_curl's curl API returns it),
-- "SET\t<name>\t<value>", "EXEC\t<application>\t<data>".

local script, uuid = arg[1], arg[2]
local vars, i = {}, 3
while arg[i] and arg[i] ~= "--" do
	local k, v = arg[i]:match("^([^=]+)=(.*)$")
	vars[k] = v
	i = i + 1
end
argv = {}
for j = i + 1, #arg do
	argv[#argv + 1] = arg[j]
end
if #argv == 0 then
	argv = nil
end

local function emit(...)
	io.write(table.concat({ ... }, "\t"), "\n")
	io.flush()
end

freeswitch = {
	API = function()
		return {
			execute = function(_, cmd, args)
				assert(cmd == "curl", "only the curl API is stubbed, got " .. cmd)
				emit("CURL", args)
				return io.read("l") or ""
			end,
		}
	end,
	consoleLog = function(level, msg)
		io.stderr:write(level, " ", msg)
	end,
}

if uuid ~= "" then
	session = {
		get_uuid = function() return uuid end,
		getVariable = function(_, name) return vars[name] end,
		setVariable = function(_, name, value)
			vars[name] = value
			emit("SET", name, value)
		end,
		execute = function(_, app, data) emit("EXEC", app, data) end,
	}
end

dofile(script)
