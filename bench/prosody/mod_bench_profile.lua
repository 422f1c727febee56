-- Benchmark only: a sampling CPU profile of Prosody, by Lua function. Every 1000 VM instructions the
-- CPU time since the last sample (os.clock, so time spent in C functions in between included) is
-- charged to the running function ("self") and to every function on the stack ("total"). The hook is
-- set on the main thread from a timer (modules load inside a coroutine): util.async gives every new
-- runner thread, where stanzas are handled, the main thread's hook.
-- Control: write "reset" or "dump" to <bench_profile_file>.cmd; a dump goes to <bench_profile_file>.
local file = module:get_option_string("bench_profile_file");
-- Listed in modules_enabled, so loaded once per host: only the first instance profiles.
local shared = module:shared("/*/bench_profile/state");
if not file or shared.loaded then return; end
shared.loaded = true;

local clock, getinfo, sethook = os.clock, debug.getinfo, debug.sethook;
local self_t, total_t, last = {}, {}, clock();

-- Keyed by function object while sampling (cheap); named at dump time.
local function sample()
	local now = clock();
	local dt = now - last;
	last = now;
	local info = getinfo(2, "f");
	if not info then return; end
	local top = info.func;
	self_t[top] = (self_t[top] or 0) + dt;
	local seen, level = {}, 2;
	while level < 40 do
		local i = getinfo(level, "f");
		if not i then break; end
		local f = i.func;
		if not seen[f] then
			seen[f] = true;
			total_t[f] = (total_t[f] or 0) + dt;
		end
		level = level + 1;
	end
end

local function name_of(f)
	local info = getinfo(f, "S");
	return ("%s:%d"):format(info.short_src, info.linedefined);
end

local function dump()
	local rows = {};
	for f, t in pairs(total_t) do rows[#rows + 1] = { name_of(f), t, self_t[f] or 0 }; end
	table.sort(rows, function(a, b) return a[2] > b[2]; end);
	local out = io.open(file, "w");
	out:write(("%-90s %9s %9s\n"):format("function", "total ms", "self ms"));
	for i = 1, math.min(#rows, 150) do
		out:write(("%-90s %9.1f %9.1f\n"):format(rows[i][1], rows[i][2] * 1000, rows[i][3] * 1000));
	end
	local selfs = {};
	for f, t in pairs(self_t) do selfs[#selfs + 1] = { name_of(f), t }; end
	table.sort(selfs, function(a, b) return a[2] > b[2]; end);
	out:write("\nby self time\n");
	for i = 1, math.min(#selfs, 60) do out:write(("%-90s %9.1f\n"):format(selfs[i][1], selfs[i][2] * 1000)); end
	out:close();
end

local hooked = false;
module:add_timer(0.2, function()
	if not hooked then
		hooked = true;
		sethook(sample, "", 1000);
	end
	local f = io.open(file .. ".cmd", "r");
	if f then
		local cmd = f:read("*l");
		f:close();
		if cmd == "reset" then
			self_t, total_t, last = {}, {}, clock();
		elseif cmd == "dump" then
			dump();
		end
		os.remove(file .. ".cmd"); -- last: the bench waits for this before reading the dump
	end
	return 0.2;
end);
