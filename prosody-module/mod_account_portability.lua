-- mod_account_portability: companion of the xmpp-account-portability component.
--
-- Gives ONE configured component what XEP-0356 on Prosody 0.12 cannot: reading and appending a local
-- user's message archive, sending subscription presence as a local user, answering XEP-0283 moved
-- subscription requests on the server side, and the bounces of requests sent on a user's behalf.
-- The protocol is described once, in README.md next to this file; anything from another entity gets
-- auth/forbidden.

local st = require "util.stanza";
local jid = require "util.jid";
local datetime = require "util.datetime";
local cache = require "util.cache";
local id = require "util.id";
local monotonic_now = require "util.time".now;
local usermanager = require "core.usermanager";
local rostermanager = require "core.rostermanager";
local storagemanager = require "core.storagemanager";

local NS = "urn:xmpp-account-portability:companion:0";
local NS_MAM = "urn:xmpp:mam:2";
local NS_FORWARD = "urn:xmpp:forward:0";
local NS_DELAY = "urn:xmpp:delay";
local NS_MOVED = "urn:xmpp:moved:1";
local NS_PUBSUB = "http://jabber.org/protocol/pubsub";

local component = module:get_option_string("account_portability_component");
local max_page = module:get_option_number("account_portability_max_page", 500);
-- Prosody serves every connection on one thread, and building a page (parsing each stored message)
-- costs about 0.15 ms a message on SQL storage, sending it about as much again: a page ends after
-- this much building time, so an export stalls everyone else for one short page at a time (the
-- component asks for the next page). 5 ms halves an export's speed on SQL against 10 ms, and keeps
-- other stanzas' p99 near 50 ms during it (bench/moved.ts).
local page_seconds = module:get_option_number("account_portability_page_ms", 5) / 1000;
local max_append = module:get_option_number("account_portability_max_append", 500);
local archive_store_name = module:get_option_string("archive_store", "archive");
local archive = module:open_store(archive_store_name, "archive");
-- As mod_mam: a store without the archive API (or the null driver) cannot serve the archive ops; the
-- rest of the module still works. Appends need lookups by id to stay idempotent.
local archive_usable = archive.find ~= nil and archive.name ~= "null";
local archive_ids = archive_usable and archive.caps ~= nil and archive.caps.ids == true;
if not archive_usable then
	module:log("error", "archive store '%s' has no archive API: archive-query and archive-append are refused", archive_store_name);
elseif not archive_ids then
	module:log("warn", "archive store '%s' cannot look up items by id: archive-append is refused", archive_store_name);
end
-- Prosody's internal archive driver loads a user's whole list for every query, so paging an export
-- page by page would reload it once per page and stall the server each time. On that driver we keep
-- the export's iterator between pages instead (see archive-query).
local _, archive_driver = storagemanager.get_driver(module.host, archive_store_name);
local keep_cursors = archive_driver == "internal";
local cursor_ttl = module:get_option_number("account_portability_cursor_ttl", 120);
local max_cursors = module:get_option_number("account_portability_max_cursors", 16);

if not component then
	module:log("warn", "account_portability_component is not set: every request will be refused");
end

-- The feature only says the module is loaded; every operation still checks who asks.
module:add_feature(NS);

local function from_component(origin, stanza)
	return component ~= nil
		and origin.type == "component"
		and stanza.attr.from ~= nil
		and jid.bare(stanza.attr.from) == component;
end

-- Replies to the component can be large (rosters, archive pages). With Nagle on, the tail of each
-- waits for the component's delayed ACK: ~40 ms per reply. Turn it off for this one stream.
local function tune_component_stream(event)
	local origin = event.origin;
	if origin.portability_nodelay or not from_component(origin, event.stanza) then return; end
	origin.portability_nodelay = true;
	if origin.conn and origin.conn.setoption then
		origin.conn:setoption("tcp-nodelay", true);
	end
end
module:hook("iq/host", tune_component_stream, 1000);
module:hook("iq/bare", tune_component_stream, 1000);

-- Inbound XEP-0283 subscribes held until a verdict: hold id -> { event, username, from, old }. A held
-- request has not reached mod_presence: no pending entry, nothing delivered. The holds of a deleted
-- account are dropped, so a hold also says that its user exists.
local holds, hold_count = {}, 0;

-- Common checks; returns the request element and username, or sends an error and returns nil.
local function accept(event)
	local origin, stanza = event.origin, event.stanza;
	if not from_component(origin, stanza) then
		module:log("warn", "refused %s from %s", stanza.tags[1] and stanza.tags[1].name or "?", tostring(stanza.attr.from));
		origin.send(st.error_reply(stanza, "auth", "forbidden", "only the configured portability component may do this"));
		return nil;
	end
	local req = stanza.tags[1];
	-- About a held notice, for the user it was forwarded for: that user exists (no account lookup, no
	-- stringprep; this runs for every moved notice, on Prosody's one thread).
	local held = req and req.attr.hold and holds[req.attr.hold];
	if held and req.attr.user == held.username then return req, held.username; end
	local username = req and req.attr.user and jid.prep(req.attr.user .. "@" .. module.host);
	username = username and jid.split(username);
	if not username or not usermanager.user_exists(username, module.host) then
		origin.send(st.error_reply(stanza, "cancel", "item-not-found", "no such local user"));
		return nil;
	end
	return req, username;
end

local function parse_time(s)
	if s == nil or s == "" then return nil; end
	return datetime.parse(s);
end

-- Open export cursors on the internal driver, keyed by user and the last key handed out. Each holds a
-- user's loaded archive, so at most `max_cursors` are kept (least recently used goes first).
local cursors = cache.new(max_cursors);

local function take_cursor(username, req)
	if not keep_cursors or not req.attr.after then return nil; end
	local key = username .. "\0" .. req.attr.after .. "\0" .. (req.attr.start or "") .. "\0" .. (req.attr["end"] or "");
	local c = cursors:get(key);
	cursors:set(key, nil);
	if c and c.expires >= os.time() then
		c.fresh = false;
		return c;
	end
	return nil;
end

local function keep_cursor(username, req, c, last)
	local key = username .. "\0" .. last .. "\0" .. (req.attr.start or "") .. "\0" .. (req.attr["end"] or "");
	c.expires = os.time() + cursor_ttl;
	cursors:set(key, c);
end

local function refuse_archive(origin, stanza, need_ids)
	if archive_usable and (archive_ids or not need_ids) then return false; end
	origin.send(st.error_reply(stanza, "cancel", "feature-not-implemented",
		need_ids and "the archive store cannot look up items by id" or "the archive store has no archive API"));
	return true;
end

module:hook("iq-get/host/" .. NS .. ":archive-query", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req or refuse_archive(origin, stanza, false) then return true; end
	local max = math.max(1, math.min(tonumber(req.attr.max) or 100, max_page));
	local c = take_cursor(username, req);
	if not c then
		-- With kept cursors the query is open-ended: one load serves every page of the export.
		local query = { limit = (not keep_cursors) and (max + 1) or nil, after = req.attr.after,
			start = parse_time(req.attr.start), ["end"] = parse_time(req.attr["end"]) };
		local iter, err = archive:find(username, query);
		if not iter then
			local cond = err == "item-not-found" and "item-not-found" or "internal-server-error";
			origin.send(st.error_reply(stanza, "cancel", cond, tostring(err)));
			return true;
		end
		c = { iter = iter, fresh = true };
	end
	local function next_item()
		local p = c.peeked;
		if p then c.peeked = nil; return p[1], p[2], p[3]; end
		return c.iter();
	end
	local page = st.stanza("page-placeholder");
	local n, last, sliced = 0, nil, false;
	local deadline = monotonic_now() + page_seconds;
	while n < max do
		local key, item, when = next_item();
		if key == nil then break; end
		n = n + 1;
		last = key;
		item.attr.xmlns = "jabber:client";
		page:tag("result", { xmlns = NS_MAM, id = key })
			:tag("forwarded", { xmlns = NS_FORWARD })
				:tag("delay", { xmlns = NS_DELAY, stamp = datetime.datetime(when) }):up()
				:add_child(item)
			:up()
		:up();
		if n < max and monotonic_now() > deadline then sliced = true; break; end
	end
	-- One item of look-ahead tells whether the archive goes on after this page.
	local complete = true;
	if n == max or sliced then
		local key, item, when = next_item();
		if key ~= nil then
			complete = false;
			if keep_cursors then
				c.peeked = { key, item, when };
				keep_cursor(username, req, c, last);
			end
		end
	end
	-- A kept cursor is a snapshot from its first page: when it runs dry, one fresh query after `last`
	-- picks up whatever was archived during the export.
	if complete and not c.fresh and last then complete = false; end
	local reply = st.reply(stanza):tag("archive-page", { xmlns = NS, complete = complete and "true" or "false", last = last });
	for _, child in ipairs(page.tags) do reply:add_child(child); end
	origin.send(reply);
	return true;
end);

-- History import. A keyed archive:append costs O(archive size) on the internal driver (it loads,
-- filters and rewrites the whole list) and one commit per message on SQL, so an import goes around the
-- driver API: per user, the set of archive ids is loaded once and kept (bounded cache, idle expiry);
-- each batch is sorted by time and appended without rewriting anything (internal: one list_append per
-- message; SQL: one transaction per batch). Ids already present are skipped, so retries and re-imports
-- add nothing twice. Old messages appended after newer ones would break the driver's order (list order
-- on internal, sort_id on SQL, which is what RSM paging and start/end queries follow): archive-import-end
-- restores time order once per import. Other drivers get plain keyed appends.
local datamanager = require "util.datamanager";
local new_cache = require "util.cache".new;
local import_idle = module:get_option_number("account_portability_import_idle", 600);
local import_states = new_cache(module:get_option_number("account_portability_import_jobs", 16));
-- The drivers' quota (storage_archive_item_limit: 10000 by default on internal, none on SQL) is
-- honoured here too, since the bulk path does not go through their append.
local archive_limit = module:get_option_number("storage_archive_item_limit",
	archive_driver == "internal" and 10000 or nil);

local function sql_engine()
	if archive_driver ~= "sql" then return nil; end
	local ok, sql = pcall(require, "util.sql");
	if not ok then return nil; end
	-- mod_storage_sql shares its connections by database URI; the same normalisation finds ours.
	local params = module:get_option("sql", { driver = "SQLite3" });
	local database = params.database;
	if params.driver == "SQLite3" and database ~= ":memory:" then
		database = require "util.paths".resolve_relative_path(prosody.paths.data or ".", database or "prosody.sqlite");
	end
	local uri = sql.db2uri({ driver = params.driver, database = database, username = params.username,
		password = params.password, host = params.host, port = params.port });
	return module:shared("/*/sql/connections")[uri];
end

local function item_when(item)
	-- As mod_storage_internal reads it; an item with neither sorts first rather than failing the import.
	return item.when or (item.attr.stamp and datetime.parse(item.attr.stamp)) or 0;
end

-- The user's archive ids and item count, loaded at most once per import.
local function import_state(username)
	local state = import_states:get(username);
	local now = os.time();
	if state and state.touched + import_idle >= now then
		state.touched = now;
		return state;
	end
	state = { ids = {}, count = 0, touched = now };
	if archive_driver == "internal" then
		local items, err = datamanager.list_load(username, module.host, archive_store_name);
		if not items and err then return nil, err; end
		for _, item in ipairs(items or {}) do
			if item.key then state.ids[item.key] = true; end
		end
		state.count = items and #items or 0;
	else
		local engine = sql_engine();
		if engine then
			local ok, err = engine:transaction(function()
				for row in engine:select([[SELECT "key" FROM "prosodyarchive" WHERE "host"=? AND "user"=? AND "store"=?;]],
					module.host, username, archive_store_name) do
					state.ids[row[1]] = true;
					state.count = state.count + 1;
				end
			end);
			if not ok then return nil, err; end
		else
			local iter, err = archive:find(username, {});
			if not iter then return nil, err; end
			for key in iter do
				state.ids[key] = true;
				state.count = state.count + 1;
			end
		end
	end
	import_states:set(username, state);
	return state;
end

-- mod_storage_sql caches each user's item count (MAM's total for a whole-archive query, and its own
-- quota check), and rows inserted here bypass it. Its delete() drops that user's cached count; one
-- that matches nothing (a fresh random key) is the public way to ask for a recount.
local function forget_item_count(username)
	archive:delete(username, { key = id.long() });
end

-- Stores entries (already deduplicated and sorted by time) the cheapest way the driver allows.
local function bulk_append(username, entries)
	-- (LuaDBI's sqlite3 driver reports an empty transaction's commit as failed.)
	if #entries == 0 then return true; end
	if archive_driver == "internal" then
		for _, e in ipairs(entries) do
			-- preserialize copies the tree (sharing attribute tables: the request is ours to change).
			local value = st.preserialize(e.msg);
			value.key, value.when, value.with = e.id, e.when, e.with;
			value.attr.stamp = datetime.datetime(e.when);
			local ok, err = datamanager.list_append(username, module.host, archive_store_name, value);
			if not ok then return nil, err; end
		end
		return true;
	end
	local engine = sql_engine();
	if engine then
		local ok, err = engine:transaction(function()
			for _, e in ipairs(entries) do
				engine:insert([[INSERT INTO "prosodyarchive" ("host", "user", "store", "when", "with", "key", "type", "value")
					VALUES (?,?,?,?,?,?,?,?);]], module.host, username, archive_store_name, e.when, e.with, e.id, "xml",
					tostring(e.msg));
			end
		end);
		if ok then forget_item_count(username); end
		return ok, err;
	end
	for _, e in ipairs(entries) do
		local ok, err = archive:append(username, e.id, e.msg, e.when, e.with);
		if not ok then return nil, err; end
	end
	return true;
end

module:hook("iq-set/host/" .. NS .. ":archive-append", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req or refuse_archive(origin, stanza, true) then return true; end
	local user_bare = username .. "@" .. module.host;
	local entries = {};
	for result in req:childtags("result", NS_MAM) do
		local fwd = result:get_child("forwarded", NS_FORWARD);
		local delay = fwd and fwd:get_child("delay", NS_DELAY);
		local msg = fwd and fwd:get_child("message", "jabber:client");
		local when = delay and parse_time(delay.attr.stamp);
		if not (result.attr.id and msg and when) then
			origin.send(st.error_reply(stanza, "modify", "bad-request", "each result needs an id, a delay stamp and a message"));
			return true;
		end
		local from_bare, to_bare = jid.bare(msg.attr.from), jid.bare(msg.attr.to);
		-- 'with' is the other party, as mod_mam derives it.
		local with = (from_bare == user_bare or from_bare == nil) and to_bare or from_bare;
		entries[#entries + 1] = { id = result.attr.id, msg = msg, when = when, with = with, n = #entries };
	end
	if #entries > max_append then
		origin.send(st.error_reply(stanza, "modify", "policy-violation", "too many results in one request"));
		return true;
	end
	local state, err = import_state(username);
	if not state then
		origin.send(st.error_reply(stanza, "wait", "internal-server-error", "archive load failed: " .. tostring(err)));
		return true;
	end
	table.sort(entries, function(a, b)
		if a.when ~= b.when then return a.when < b.when; end
		return a.n < b.n;
	end);
	local new, skipped, over_quota = {}, 0, 0;
	for _, e in ipairs(entries) do
		if state.ids[e.id] then
			skipped = skipped + 1;
		elseif archive_limit and state.count + #new >= archive_limit then
			over_quota = over_quota + 1;
		else
			state.ids[e.id] = true; -- also drops a repeated id within the batch
			new[#new + 1] = e;
		end
	end
	-- Prosody runs a full incremental GC cycle whenever the heap grows by 5%; serialising a batch
	-- allocates many short strings, which made collection most of the cost. One batch (bounded by
	-- account_portability_max_append) runs with the collector paused, and it resumes right after.
	local gc_was_running = collectgarbage("isrunning");
	if gc_was_running then collectgarbage("stop"); end
	local done, ok, append_err = pcall(bulk_append, username, new);
	if gc_was_running then collectgarbage("restart"); end
	if not done then ok, append_err = nil, ok; end
	if not ok then
		-- What was written is unknown: forget the ids, the retry reloads them.
		import_states:set(username, nil);
		origin.send(st.error_reply(stanza, "wait", "internal-server-error", "archive append failed: " .. tostring(append_err)));
		return true;
	end
	state.count = state.count + #new;
	origin.send(st.reply(stanza):tag("archive-appended", { xmlns = NS, added = tostring(#new),
		skipped = tostring(skipped), ["over-quota"] = over_quota > 0 and tostring(over_quota) or nil }));
	return true;
end);

-- Puts the archive back in time order after an import. Internal: one load, a stable sort, one store,
-- only when the list is out of order. SQL: rows from the earliest out-of-order time onwards are
-- re-inserted in (when, sort_id) order, which gives them new, increasing sort_ids after every row
-- before that time (those are in order, by the choice of that time).
local function restore_order_internal(username)
	local items, err = datamanager.list_load(username, module.host, archive_store_name);
	if not items then
		if err then return nil, err; end
		return false;
	end
	local sorted, latest = true, nil;
	for _, item in ipairs(items) do
		local when = item_when(item);
		if latest and when < latest then sorted = false; break; end
		latest = when;
	end
	if sorted then return false; end
	local order = {};
	for i, item in ipairs(items) do order[item] = i; end
	table.sort(items, function(a, b)
		local wa, wb = item_when(a), item_when(b);
		if wa ~= wb then return wa < wb; end
		return order[a] < order[b];
	end);
	if not datamanager.list_store(username, module.host, archive_store_name, items) then
		return nil, "list store failed";
	end
	return true;
end

-- Statements run once (DDL, or reading a temporary table): not kept in the engine's prepared cache.
local function run_once(engine, sql, ...)
	local stmt = assert(engine.conn:prepare(engine:prepquery(sql)));
	assert(stmt:execute(...));
	stmt:close();
end

local function restore_order_sql(engine, username)
	local ok, ret = engine:transaction(function()
		local from, latest;
		for row in engine:select([[SELECT "when" FROM "prosodyarchive" WHERE "host"=? AND "user"=? AND "store"=?
			ORDER BY "sort_id";]], module.host, username, archive_store_name) do
			local when = row[1];
			if latest and when < latest and (not from or when < from) then from = when; end
			if not latest or when > latest then latest = when; end
		end
		if not from then return false; end
		run_once(engine, [[DROP TABLE IF EXISTS "portability_reorder";]]);
		run_once(engine, [[CREATE TEMPORARY TABLE "portability_reorder" AS SELECT * FROM "prosodyarchive" WHERE 1=0;]]);
		run_once(engine, [[INSERT INTO "portability_reorder" SELECT * FROM "prosodyarchive"
			WHERE "host"=? AND "user"=? AND "store"=? AND "when">=?;]], module.host, username, archive_store_name, from);
		run_once(engine, [[DELETE FROM "prosodyarchive" WHERE "host"=? AND "user"=? AND "store"=? AND "when">=?;]],
			module.host, username, archive_store_name, from);
		run_once(engine, [[INSERT INTO "prosodyarchive" ("host", "user", "store", "when", "with", "key", "type", "value")
			SELECT "host", "user", "store", "when", "with", "key", "type", "value" FROM "portability_reorder"
			ORDER BY "when", "sort_id";]]);
		run_once(engine, [[DROP TABLE "portability_reorder";]]);
		return true;
	end);
	if not ok then return nil, ret; end
	return ret;
end

module:hook("iq-set/host/" .. NS .. ":archive-import-end", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req then return true; end
	import_states:set(username, nil);
	local reordered, err = false, nil;
	if archive_driver == "internal" then
		reordered, err = restore_order_internal(username);
	else
		local engine = sql_engine();
		if engine then reordered, err = restore_order_sql(engine, username); end
	end
	if reordered == nil then
		origin.send(st.error_reply(stanza, "wait", "internal-server-error", "archive reorder failed: " .. tostring(err)));
		return true;
	end
	origin.send(st.reply(stanza):tag("archive-import-ended", { xmlns = NS, reordered = reordered and "true" or "false" }));
	return true;
end);

-- Every account of this host, for a bulk export (Prosody has no XEP-0133 "list registered users").
-- Sorted, so paging by the last name handed out is stable while accounts come and go.
local max_users_page = module:get_option_number("account_portability_max_users_page", 1000);
module:hook("iq-get/host/" .. NS .. ":list-users", function(event)
	local origin, stanza = event.origin, event.stanza;
	if not from_component(origin, stanza) then
		origin.send(st.error_reply(stanza, "auth", "forbidden", "only the configured portability component may do this"));
		return true;
	end
	local req = stanza.tags[1];
	local provider = prosody.hosts[module.host].users;
	if not (provider and provider.users) then
		origin.send(st.error_reply(stanza, "cancel", "feature-not-implemented", "the authentication provider cannot list users"));
		return true;
	end
	local names = {};
	-- Storage drivers return an iterator triple (e.g. lfs.dir's function and state): keep all of it.
	for username in usermanager.users(module.host) do names[#names + 1] = username; end
	table.sort(names);
	local after = req.attr.after;
	local max = math.max(1, math.min(tonumber(req.attr.max) or max_users_page, max_users_page));
	local list = st.stanza("users", { xmlns = NS, total = tostring(#names) });
	local n, last, complete = 0, nil, true;
	for _, username in ipairs(names) do
		if after == nil or username > after then
			if n == max then complete = false; break; end
			list:tag("user", { name = username }):up();
			n, last = n + 1, username;
		end
	end
	list.attr.complete = complete and "true" or "false";
	list.attr.last = last;
	origin.send(st.reply(stanza):add_child(list));
	return true;
end);

local presence_types = { subscribe = true, subscribed = true, unsubscribe = true, unsubscribed = true };

-- Subscription requests sent with presence-as, remembered (bounded) so that their bounces can be told
-- to the component: "user\0contact" -> true.
local asked = cache.new(module:get_option_number("account_portability_max_asked", 10000));

module:hook("iq-set/host/" .. NS .. ":presence-as", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req then return true; end
	local to = req.attr.to and jid.prep(req.attr.to);
	local ptype = req.attr.type;
	if not to or jid.resource(to) or not presence_types[ptype] then
		origin.send(st.error_reply(stanza, "modify", "bad-request", "need a bare 'to' and a subscription presence type"));
		return true;
	end
	local from = username .. "@" .. module.host;
	local presence = st.presence({ from = from, to = to, type = ptype });
	for _, child in ipairs(req.tags) do presence:add_child(st.clone(child)); end
	-- Before posting: a bounce from routing comes back while core_post_stanza still runs.
	if ptype == "subscribe" then asked:set(username .. "\0" .. to, true); end
	-- Post it as if the user's own client sent it, so mod_presence does the roster bookkeeping.
	local session = {
		type = "c2s"; username = username; host = module.host; full_jid = from;
		send = function() return true; end; log = module._log;
	};
	prosody.core_post_stanza(session, presence, true);
	origin.send(st.reply(stanza));
	return true;
end);

-- A bounce (presence type=error) answering a request sent with presence-as goes to the component as
-- well; delivery to the user's clients continues.
module:hook("presence/bare", function(event)
	local stanza = event.stanza;
	if component == nil or stanza.attr.type ~= "error" then return; end
	local node, host = jid.split(stanza.attr.to);
	local from = jid.bare(stanza.attr.from or "");
	if not node or host ~= module.host or not from or not asked:get(node .. "\0" .. from) then return; end
	local copy = st.clone(stanza);
	copy.attr.xmlns = "jabber:client";
	module:send(st.message({ from = module.host, to = component })
		:tag("presence-error", { xmlns = NS, user = node }):add_child(copy));
end, 50);

local hold_seconds = module:get_option_number("account_portability_moved_hold", 10);
local max_holds = module:get_option_number("account_portability_max_holds", 1000);
-- Benchmark only: the module verifies and applies moves itself, without the component (the ceiling
-- that bench/moved.ts measures the component against). Not for production.
local self_verify = module:get_option_boolean("account_portability_selfverify", false);

local function take_hold(hold_id)
	local h = hold_id and holds[hold_id];
	if h then
		holds[hold_id] = nil;
		hold_count = hold_count - 1;
	end
	return h;
end

-- Delivers a held subscribe unchanged, as if it had never been held (mod_presence, then clients).
local function release(hold_id)
	local h = take_hold(hold_id);
	if not h then return false; end
	h.event.portability_released = true;
	module:fire_event("presence/bare", h.event);
	return true;
end

local function hold(event, username, from, old)
	local hold_id = id.short();
	holds[hold_id] = { event = event, username = username, from = from, old = old };
	hold_count = hold_count + 1;
	module:add_timer(hold_seconds, function()
		if release(hold_id) then module:log("debug", "no verdict on a moved subscribe in time: delivered"); end
	end);
	return hold_id;
end

-- Fired on Prosody's global events (core.usermanager), for every host.
module:hook_global("user-deleted", function(event)
	if event.host ~= module.host then return; end
	for hold_id, h in pairs(holds) do
		if h.username == event.username then take_hold(hold_id); end
	end
end);

-- XEP-0283 for a local user, applied in one step once the notice is verified: approve the new contact
-- with the old one's name and groups, subscribe back when the old contact was 'both', revoke and remove
-- the old contact. The roster is changed and saved once (each save rewrites the whole roster on
-- internal storage), and the preconditions are checked again here, atomically, so a duplicate or stale
-- request changes nothing. The presences then go out as mod_presence would send them.
local function route_available(username, to, ptype)
	local user_sessions = prosody.hosts[module.host].sessions[username];
	if not user_sessions then return; end
	for _, session in pairs(user_sessions.sessions) do
		if session.presence then
			local p = ptype and st.presence({ type = ptype }) or st.clone(session.presence);
			p.attr.from, p.attr.to = session.full_jid, to;
			module:send(p);
		end
	end
end

-- Saves the two contacts a move changes (and the pending list), not the whole roster: on SQL storage
-- a whole-roster save deletes and re-inserts every contact in one transaction, which at moving time
-- (many contacts moving at once, on a single-threaded server) is most of the move's cost. The same
-- map-store write rostermanager does for one contact, with two; the roster version is bumped as there.
-- A driver without native map stores (internal) gets storagemanager's shim, which would read the file
-- again before writing it whole: there the roster in hand is saved whole instead.
local roster_map = storagemanager.open(module.host, "roster", "map");
local native_roster_map = roster_map and roster_map.keyval_store == nil;
local function save_move(username, roster, new, old)
	if not native_roster_map then return rostermanager.save_roster(username, module.host, roster); end
	local metadata = roster[false];
	if metadata.broken then return nil, "not saving a broken roster"; end
	if metadata.version ~= true then metadata.version = (metadata.version or 0) + 1; end
	return roster_map:set_keys(username, { [false] = metadata, [new] = roster[new], [old] = roster_map.remove });
end

-- Returns true and whether it subscribed back, or nil, a reason and the error type.
local function apply_move(username, new, old, name, groups, hold_id)
	local user = username .. "@" .. module.host;
	local roster = rostermanager.load_roster(username, module.host);
	local old_item, pending = roster[old], roster[false].pending;
	if not old_item or (old_item.subscription ~= "from" and old_item.subscription ~= "both") then
		return nil, "old-not-subscribed", "cancel";
	end
	-- The request is either held here, or (no verdict in time) was delivered and is pending.
	local held = hold_id and holds[hold_id];
	if held and (held.username ~= username or held.from ~= new) then held = nil; end
	if not held and not pending[new] then return nil, "no-pending-request", "cancel"; end
	local before_new, before_pending = roster[new], pending[new];
	local was = before_new and before_new.subscription or "none";
	local item = { name = name, groups = groups, subscription = (was == "to" or was == "both") and "both" or "from" };
	if item.subscription == "from" then item.ask = before_new and before_new.ask; end
	local subscribe_back = old_item.subscription == "both" and item.subscription == "from";
	if subscribe_back then item.ask = "subscribe"; end
	pending[new] = nil;
	roster[new] = item;
	roster[old] = nil;
	local ok, err = save_move(username, roster, new, old);
	if not ok then
		-- The loaded roster may be the live one of a logged-in user: put it back, as mod_privilege does.
		roster[new], roster[old], pending[new] = before_new, old_item, before_pending;
		return nil, "roster save failed: " .. tostring(err), "wait";
	end
	if held then take_hold(hold_id); end
	rostermanager.roster_push(username, module.host, new);
	rostermanager.roster_push(username, module.host, old);
	module:send(st.presence({ from = user, to = new, type = "subscribed" }));
	route_available(username, new);
	if item.subscription == "both" then
		module:send(st.presence({ from = user, to = new, type = "probe" }));
	end
	if subscribe_back then
		module:send(st.presence({ from = user, to = new, type = "subscribe" }));
	end
	module:send(st.presence({ from = user, to = old, type = "unsubscribed" }));
	route_available(username, old, "unavailable");
	return true, subscribe_back;
end

-- The move an apply-move or verify-move request describes: bare new and old JIDs, name and groups.
local function move_request(req)
	local new, old = req.attr.new, req.attr.old;
	local held = req.attr.hold and holds[req.attr.hold];
	-- A held notice's addresses are prepared already (Prosody prepares a stanza's `from` on arrival,
	-- the hook prepares `old`); anything else is prepared here.
	if not (held and new == held.from and old == held.old) then
		new, old = new and jid.prep(new), old and jid.prep(old);
	end
	if not new or not old or jid.resource(new) or jid.resource(old) or new == old then return nil; end
	local groups = {};
	for group in req:childtags("group") do groups[group:get_text()] = true; end
	return { new = new, old = old, name = req:get_child_text("name"), groups = groups, hold = req.attr.hold };
end

-- Applies the move and answers; true and whether it subscribed back when applied.
local function send_applied(origin, stanza, m, username)
	local ok, result, err_type = apply_move(username, m.new, m.old, m.name, m.groups, m.hold);
	if not ok then
		local cond = err_type == "cancel" and "conflict" or "internal-server-error";
		origin.send(st.error_reply(stanza, err_type, cond, result));
		return false;
	end
	origin.send(st.reply(stanza):tag("move-applied", { xmlns = NS, ["subscribed-back"] = result and "true" or "false" }));
	return true, result;
end

-- accept() for apply-move and verify-move: the move asked for and the user, or nil (answered).
local function accept_move(event)
	local req, username = accept(event);
	if not req then return nil; end
	local m = move_request(req);
	if not m then
		event.origin.send(st.error_reply(event.stanza, "modify", "bad-request", "need bare 'new' and 'old' JIDs"));
		return nil;
	end
	return m, username, req;
end

module:hook("iq-set/host/" .. NS .. ":apply-move", function(event)
	local m, username = accept_move(event);
	if m then send_applied(event.origin, event.stanza, m, username); end
	return true;
end);

-- The old account's XEP-0283 statement, fetched as the user (the node's access model is 'presence').
-- Resolves to the reply stanza; rejects with a util.error (error reply, timeout).
local function fetch_statement(username, old, timeout)
	local iq = st.iq({ type = "get", from = username .. "@" .. module.host, to = old, id = id.short() })
		:tag("pubsub", { xmlns = NS_PUBSUB }):tag("items", { node = NS_MOVED }):tag("item", { id = "current" });
	return module:send_iq(iq, nil, timeout);
end

-- A child by name: locally built stanzas leave a child's xmlns unset (inherited), parsed ones set it.
local function child_of(el, name, xmlns)
	for _, c in ipairs(el and el.tags or {}) do
		if c.name == name and (c.attr.xmlns == nil or c.attr.xmlns == xmlns) then return c; end
	end
end

-- The JID a statement reply names in <moved><new-jid/>, or nil.
local function statement_target(reply)
	if reply.attr.type ~= "result" then return nil; end
	local items = child_of(child_of(reply, "pubsub", NS_PUBSUB), "items", NS_PUBSUB);
	local moved = child_of(child_of(items, "item", NS_PUBSUB), "moved", NS_MOVED);
	local new_jid = child_of(moved, "new-jid", NS_MOVED);
	return new_jid and jid.prep(new_jid:get_text());
end

-- apply-move with the statement check done here, saving the component a fetch of its own: the
-- statement is fetched as the user and the move applied only when it names `new`. Otherwise nothing
-- changes and the reply carries what was fetched (the statement or its error), for the component to
-- judge and record.
local max_fetch_seconds = 30;

-- What became of each verify-move that carried a ticket, so that a component that stopped waiting
-- (a swamped server answers late) can ask with verify-cancel and record the truth: the move was
-- applied, or it never will be. Requests from the component arrive in order, so a verify-cancel is
-- handled after its verify-move started. Kept for a minute past the longest fetch.
local tickets = {}; -- username .. " " .. ticket -> { state = "pending"|"canceled"|"applied"|"not-applied", back = bool }
local ticket_keep_seconds = max_fetch_seconds + 60;
local function settle(key, state, back)
	if not key then return; end
	local entry = { state = state, back = back };
	tickets[key] = entry;
	if state ~= "pending" then
		module:add_timer(ticket_keep_seconds, function()
			if tickets[key] == entry then tickets[key] = nil; end
		end);
	end
end

module:hook("iq-set/host/" .. NS .. ":verify-move", function(event)
	local origin, stanza = event.origin, event.stanza;
	local m, username, req = accept_move(event);
	if not m then return true; end
	local key = req.attr.ticket and (username .. " " .. req.attr.ticket);
	settle(key, "pending");
	local timeout = math.max(1, math.min(tonumber(req.attr.timeout) or 5, max_fetch_seconds));
	-- Not applied: what the fetch got (the statement, or the error of the answer or of the wait).
	local function not_verified(answer, err)
		local out = st.reply(stanza):tag("move-not-verified", { xmlns = NS });
		local pubsub = answer and answer.attr.type == "result" and child_of(answer, "pubsub", NS_PUBSUB);
		local error_tag = answer and answer:get_child("error");
		if pubsub then
			out:add_child(st.clone(pubsub));
		elseif error_tag then
			out:add_child(st.clone(error_tag));
		elseif err then
			out:tag("error", { type = err.type or "wait" })
				:tag(err.condition or "undefined-condition", { xmlns = "urn:ietf:params:xml:ns:xmpp-stanzas" });
		end
		origin.send(out);
	end
	-- The component gave up waiting and asked: never applied now.
	local function canceled()
		return key and tickets[key] and tickets[key].state == "canceled";
	end
	local late = { type = "wait", condition = "remote-server-timeout" };
	fetch_statement(username, m.old, timeout):next(function(response)
		if canceled() then return not_verified(nil, late); end
		local reply = response.stanza;
		if statement_target(reply) == m.new then
			local applied, back = send_applied(origin, stanza, m, username);
			return settle(key, applied and "applied" or "not-applied", back);
		end
		not_verified(reply);
		settle(key, "not-applied");
	end, function(err)
		if canceled() then return not_verified(nil, late); end
		if type(err) ~= "table" then err = {}; end
		not_verified(err.context and err.context.stanza, err);
		settle(key, "not-applied");
	end);
	return true;
end);

-- The component stopped waiting for a verify-move: answers whether the move was applied; if it was
-- not decided yet, it never will be (the verify-move then answers as timed out).
module:hook("iq-set/host/" .. NS .. ":verify-cancel", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req then return true; end
	if not req.attr.ticket then
		origin.send(st.error_reply(stanza, "modify", "bad-request", "need a 'ticket'"));
		return true;
	end
	local key = username .. " " .. req.attr.ticket;
	local entry = tickets[key];
	local state = entry and entry.state or "pending";
	if state == "pending" then settle(key, "canceled"); state = "canceled"; end
	origin.send(st.reply(stanza):tag("verify-canceled", { xmlns = NS, state = state,
		["subscribed-back"] = state == "applied" and tostring(entry.back == true) or nil }));
	return true;
end);

module:hook("iq-set/host/" .. NS .. ":moved-release", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req then return true; end
	local h = req.attr.hold and holds[req.attr.hold];
	if not h or h.username ~= username then
		origin.send(st.error_reply(stanza, "cancel", "item-not-found", "not held (already delivered or applied)"));
		return true;
	end
	release(req.attr.hold);
	origin.send(st.reply(stanza));
	return true;
end);

-- Notices forwarded in one turn of the event loop (a burst arrives many to a read) go to the component
-- as one message, up to max_forward_batch: one stanza through the router instead of one each.
local max_forward_batch = 50;
local forward_queue = {};
local function flush_forwards()
	local queue = forward_queue;
	forward_queue = {};
	local message;
	for i, notice in ipairs(queue) do
		if (i - 1) % max_forward_batch == 0 then
			if message then module:send(message); end
			message = st.message({ from = module.host, to = component });
		end
		message:add_direct_child(notice);
	end
	if message then module:send(message); end
end
local function forward(notice)
	forward_queue[#forward_queue + 1] = notice;
	if #forward_queue == 1 then module:add_timer(0, flush_forwards); end
end

local function roster_item_element(contact, item)
	local el = st.stanza("roster-item", { jid = contact, subscription = item.subscription or "none",
		name = item.name, ask = item.ask });
	for group in pairs(item.groups or {}) do el:text_tag("group", group); end
	return el;
end

local function component_online()
	local host = component and prosody.hosts[component];
	local env = host and host.modules and host.modules.component;
	return env ~= nil and env.connected == true;
end

local function subscribed_to_user(item)
	return item ~= nil and (item.subscription == "from" or item.subscription == "both");
end

-- Benchmark-only verification in Lua: the same checks as src/contact-moves/verify.ts, the statement
-- fetched as the user, then apply_move. Anything else delivers the request unchanged. At most as many
-- fetches at once as the component runs (module:send_iq tracks 256 and drops the oldest beyond that).
local self_verify_slots, self_verify_queue = 128, {};
local function verify_here(hold_id, username, from, old, old_item)
	if self_verify_slots == 0 then
		self_verify_queue[#self_verify_queue + 1] = { hold_id, username, from, old, old_item };
		return;
	end
	self_verify_slots = self_verify_slots - 1;
	fetch_statement(username, old, hold_seconds):next(function(response)
		if statement_target(response.stanza) ~= from
			or not apply_move(username, from, old, old_item.name, old_item.groups or {}, hold_id) then
			release(hold_id);
		end
	end, function() release(hold_id); end):finally(function()
		self_verify_slots = self_verify_slots + 1;
		local waiting = table.remove(self_verify_queue, 1);
		if waiting then verify_here(waiting[1], waiting[2], waiting[3], waiting[4], waiting[5]); end
	end);
end

-- Every inbound moved subscribe to a local user goes to the component, with the user's roster entries
-- for the sender and the claimed old address (so verification needs no roster fetch), and is held
-- until the verdict (apply-move with the hold id, or moved-release) or the timeout. With the component
-- offline or too many held, it is delivered at once. Priority: after mod_blocklist (100) drops blocked
-- senders, before mod_presence (0).
module:hook("presence/bare", function(event)
	local stanza = event.stanza;
	if event.portability_released or stanza.attr.type ~= "subscribe" then return; end
	if component == nil and not self_verify then return; end
	local moved = stanza:get_child("moved", NS_MOVED);
	if not moved then return; end
	local node, host = jid.split(stanza.attr.to);
	if not node or host ~= module.host or not usermanager.user_exists(node, host) then return; end
	local from = jid.bare(stanza.attr.from);
	local old = jid.prep(moved:get_child_text("old-jid") or "");
	local roster = rostermanager.load_roster(node, host);
	if self_verify then
		local old_item = old and roster[old];
		if not from or not subscribed_to_user(old_item) or old == from or subscribed_to_user(roster[from]) then return; end
		verify_here(hold(event, node, from, old), node, from, old, old_item);
		return true;
	end
	if not component_online() or not from then return; end
	local hold_id = hold_count < max_holds and hold(event, node, from, old) or nil;
	-- The facts only, not the presence: every forward is serialized on Prosody's one thread.
	local notice = st.stanza("moved-subscribe", { xmlns = NS, user = node, hold = hold_id, from = from,
		["old-jid"] = moved:get_child_text("old-jid") or "" });
	for _, contact in ipairs({ from, old }) do
		local item = contact and roster[contact];
		if item then notice:add_child(roster_item_element(contact, item)); end
	end
	forward(notice);
	return hold_id ~= nil or nil;
end, 50);
