-- luacheck for the companion Prosody module and the benchmarks' Prosody modules (run by .ci/run). Prosody runs modules in an environment
-- with `module` and `prosody` set; the rest are standard Lua 5.4 (Prosody 0.12 and 13 on Debian).
std = "lua54"
max_line_length = 150
read_globals = { "module", "prosody" }
include_files = { "prosody-module/**/*.lua", "bench/prosody/**/*.lua" }
