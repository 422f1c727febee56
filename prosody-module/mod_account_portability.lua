-- mod_account_portability: companion of the xmpp-account-portability component.
--
-- Gives ONE configured component what XEP-0356 on Prosody 0.12 cannot: reading and appending a local
-- user's message archive, sending subscription presence as a local user, and a copy of inbound
-- XEP-0283 moved subscription requests. Protocol (namespace below; all IQs addressed to the host):
--   get <archive-query user after? max? start? end?/>  -> <archive-page complete last?> <result xmlns=mam:2/>* </archive-page>
--   set <archive-append user> <result xmlns=mam:2 id>…</result>* </archive-append> -> <archive-appended added skipped/>
--   set <presence-as user to type> payload* </presence-as>                       -> empty result
--   set <apply-move user new old subscribe-back?> <name/>? <group/>* </apply-move> -> <move-applied/>
--   -> component: <message from=host><moved-subscribe user><presence xmlns=jabber:client …/>
--                   <roster-item jid subscription name?><group/>*</roster-item>*</moved-subscribe></message>
-- Anything from another entity gets auth/forbidden. Delivery of the original stanzas is never changed.

local st = require "util.stanza";
local jid = require "util.jid";
local datetime = require "util.datetime";
local usermanager = require "core.usermanager";
local rostermanager = require "core.rostermanager";
local storagemanager = require "core.storagemanager";

local NS = "urn:xmpp-account-portability:companion:0";
local NS_MAM = "urn:xmpp:mam:2";
local NS_FORWARD = "urn:xmpp:forward:0";
local NS_DELAY = "urn:xmpp:delay";
local NS_MOVED = "urn:xmpp:moved:1";

local component = module:get_option_string("account_portability_component");
local max_page = module:get_option_number("account_portability_max_page", 500);
local max_append = module:get_option_number("account_portability_max_append", 500);
local archive_store_name = module:get_option_string("archive_store", "archive");
local archive = module:open_store(archive_store_name, "archive");
-- Prosody's internal archive driver loads a user's whole list for every query, so paging an export
-- page by page would reload it once per page and stall the server each time. On that driver we keep
-- the export's iterator between pages instead (see archive-query).
local _, archive_driver = storagemanager.get_driver(module.host, archive_store_name);
local keep_cursors = archive_driver == "internal";
local cursor_ttl = module:get_option_number("account_portability_cursor_ttl", 120);

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

-- Common checks; returns the request element and username, or sends an error and returns nil.
local function accept(event)
	local origin, stanza = event.origin, event.stanza;
	if not from_component(origin, stanza) then
		module:log("warn", "refused %s from %s", stanza.tags[1] and stanza.tags[1].name or "?", tostring(stanza.attr.from));
		origin.send(st.error_reply(stanza, "auth", "forbidden", "only the configured portability component may do this"));
		return nil;
	end
	local req = stanza.tags[1];
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

-- Open export cursors on the internal driver, keyed by user and the last key handed out.
local cursors = {};

local function take_cursor(username, req)
	if not keep_cursors or not req.attr.after then return nil; end
	local key = username .. "\0" .. req.attr.after .. "\0" .. (req.attr.start or "") .. "\0" .. (req.attr["end"] or "");
	local c = cursors[key];
	cursors[key] = nil;
	if c and c.expires >= os.time() then
		c.fresh = false;
		return c;
	end
	return nil;
end

local function keep_cursor(username, req, c, last)
	local now = os.time();
	for k, old in pairs(cursors) do
		if old.expires < now then cursors[k] = nil; end
	end
	local key = username .. "\0" .. last .. "\0" .. (req.attr.start or "") .. "\0" .. (req.attr["end"] or "");
	c.expires = now + cursor_ttl;
	cursors[key] = c;
end

module:hook("iq-get/host/" .. NS .. ":archive-query", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req then return true; end
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
	local n, last = 0, nil;
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
	end
	-- One item of look-ahead tells whether the archive goes on after this page.
	local complete = true;
	if n == max then
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

module:hook("iq-set/host/" .. NS .. ":archive-append", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req then return true; end
	local user_bare = username .. "@" .. module.host;
	local entries, ids = {}, {};
	for result in req:childtags("result", NS_MAM) do
		local fwd = result:get_child("forwarded", NS_FORWARD);
		local delay = fwd and fwd:get_child("delay", NS_DELAY);
		local msg = fwd and fwd:get_child("message", "jabber:client");
		local when = delay and parse_time(delay.attr.stamp);
		if not (result.attr.id and msg and when) then
			origin.send(st.error_reply(stanza, "modify", "bad-request", "each result needs an id, a delay stamp and a message"));
			return true;
		end
		entries[#entries + 1] = { id = result.attr.id, msg = msg, when = when };
		ids[#ids + 1] = result.attr.id;
	end
	if #entries > max_append then
		origin.send(st.error_reply(stanza, "modify", "policy-violation", "too many results in one request"));
		return true;
	end
	-- Idempotency by id: one lookup for the whole batch.
	local existing = {};
	local iter = archive:find(username, { ids = ids });
	if iter then
		for key in iter do existing[key] = true; end
	end
	local added, skipped = 0, 0;
	for _, e in ipairs(entries) do
		if existing[e.id] then
			skipped = skipped + 1;
		else
			local from_bare, to_bare = jid.bare(e.msg.attr.from), jid.bare(e.msg.attr.to);
			-- 'with' is the other party, as mod_mam derives it.
			local with = (from_bare == user_bare or from_bare == nil) and to_bare or from_bare;
			local ok, err = archive:append(username, e.id, e.msg, e.when, with);
			if not ok then
				origin.send(st.error_reply(stanza, "wait", "internal-server-error", "archive append failed: " .. tostring(err)));
				return true;
			end
			existing[e.id] = true;
			added = added + 1;
		end
	end
	origin.send(st.reply(stanza):tag("archive-appended", { xmlns = NS, added = tostring(added), skipped = tostring(skipped) }));
	return true;
end);

local presence_types = { subscribe = true, subscribed = true, unsubscribe = true, unsubscribed = true };

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
	-- Post it as if the user's own client sent it, so mod_presence does the roster bookkeeping.
	local session = {
		type = "c2s"; username = username; host = module.host; full_jid = from;
		send = function() return true; end; log = module._log;
	};
	prosody.core_post_stanza(session, presence, true);
	origin.send(st.reply(stanza));
	return true;
end);

-- XEP-0283 for a local user, applied in one step once the component has verified the notice: approve
-- the new contact with the old one's name and groups, subscribe back when the old contact was 'both',
-- revoke and remove the old contact. The roster is changed and saved once (each save rewrites the whole
-- roster on internal storage), and the preconditions are checked again here, atomically, so a duplicate
-- or stale request changes nothing. The presences then go out as mod_presence would send them.
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

module:hook("iq-set/host/" .. NS .. ":apply-move", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req then return true; end
	local new, old = req.attr.new and jid.prep(req.attr.new), req.attr.old and jid.prep(req.attr.old);
	if not new or not old or jid.resource(new) or jid.resource(old) or new == old then
		origin.send(st.error_reply(stanza, "modify", "bad-request", "need bare 'new' and 'old' JIDs"));
		return true;
	end
	local user = username .. "@" .. module.host;
	local roster = rostermanager.load_roster(username, module.host);
	local old_item, pending = roster[old], roster[false].pending;
	local refuse;
	if not old_item or (old_item.subscription ~= "from" and old_item.subscription ~= "both") then
		refuse = "old-not-subscribed";
	elseif not pending[new] then
		refuse = "no-pending-request";
	end
	if refuse then
		origin.send(st.error_reply(stanza, "cancel", "conflict", refuse));
		return true;
	end
	local item = roster[new] or { subscription = "none" };
	item.name = req:get_child_text("name");
	item.groups = {};
	for group in req:childtags("group") do item.groups[group:get_text()] = true; end
	item.subscription = (item.subscription == "to" or item.subscription == "both") and "both" or "from";
	local subscribe_back = old_item.subscription == "both" and item.subscription == "from";
	if subscribe_back then item.ask = "subscribe"; end
	pending[new] = nil;
	roster[new] = item;
	roster[old] = nil;
	local ok, err = rostermanager.save_roster(username, module.host, roster);
	if not ok then
		origin.send(st.error_reply(stanza, "wait", "internal-server-error", "roster save failed: " .. tostring(err)));
		return true;
	end
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
	origin.send(st.reply(stanza):tag("move-applied", { xmlns = NS, ["subscribed-back"] = subscribe_back and "true" or "false" }));
	return true;
end);

local function roster_item_element(contact, item)
	local el = st.stanza("roster-item", { jid = contact, subscription = item.subscription or "none",
		name = item.name, ask = item.ask });
	for group in pairs(item.groups or {}) do el:text_tag("group", group); end
	return el;
end

-- A copy of every inbound moved subscribe to a local user goes to the component, with the user's roster
-- entries for the sender and the claimed old address (so verification needs no roster fetch); delivery
-- continues. Priority: after mod_blocklist (100) drops blocked senders, before mod_presence (0).
module:hook("presence/bare", function(event)
	local stanza = event.stanza;
	if component == nil or stanza.attr.type ~= "subscribe" then return; end
	local moved = stanza:get_child("moved", NS_MOVED);
	if not moved then return; end
	local node, host = jid.split(stanza.attr.to);
	if not node or host ~= module.host or not usermanager.user_exists(node, host) then return; end
	local copy = st.clone(stanza);
	copy.attr.xmlns = "jabber:client";
	local wrap = st.message({ from = module.host, to = component })
		:tag("moved-subscribe", { xmlns = NS, user = node })
			:add_child(copy);
	local roster = rostermanager.load_roster(node, host);
	local contacts = { jid.bare(stanza.attr.from), jid.prep(moved:get_child_text("old-jid") or "") };
	for _, contact in ipairs(contacts) do
		local item = contact and roster[contact];
		if item then wrap:add_child(roster_item_element(contact, item)); end
	end
	module:send(wrap);
end, 50);
