-- mod_account_portability: companion of the xmpp-account-portability component.
--
-- Gives ONE configured component what XEP-0356 on Prosody 0.12 cannot: reading and appending a local
-- user's message archive, sending subscription presence as a local user, and a copy of inbound
-- XEP-0283 moved subscription requests. Protocol (namespace below; all IQs addressed to the host):
--   get <archive-query user after? max? start? end?/>  -> <archive-page complete last?> <result xmlns=mam:2/>* </archive-page>
--   set <archive-append user> <result xmlns=mam:2 id>…</result>* </archive-append> -> <archive-appended added skipped/>
--   set <presence-as user to type> payload* </presence-as>                       -> empty result
--   -> component: <message from=host><moved-subscribe user><presence xmlns=jabber:client …/></moved-subscribe></message>
-- Anything from another entity gets auth/forbidden. Delivery of the original stanzas is never changed.

local st = require "util.stanza";
local jid = require "util.jid";
local datetime = require "util.datetime";
local usermanager = require "core.usermanager";

local NS = "urn:xmpp-account-portability:companion:0";
local NS_MAM = "urn:xmpp:mam:2";
local NS_FORWARD = "urn:xmpp:forward:0";
local NS_DELAY = "urn:xmpp:delay";
local NS_MOVED = "urn:xmpp:moved:1";

local component = module:get_option_string("account_portability_component");
local max_page = module:get_option_number("account_portability_max_page", 500);
local max_append = module:get_option_number("account_portability_max_append", 500);
local archive = module:open_store(module:get_option_string("archive_store", "archive"), "archive");

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

module:hook("iq-get/host/" .. NS .. ":archive-query", function(event)
	local origin, stanza = event.origin, event.stanza;
	local req, username = accept(event);
	if not req then return true; end
	local max = math.max(1, math.min(tonumber(req.attr.max) or 100, max_page));
	local query = { limit = max + 1, after = req.attr.after, start = parse_time(req.attr.start), ["end"] = parse_time(req.attr["end"]) };
	local iter, err = archive:find(username, query);
	if not iter then
		local cond = err == "item-not-found" and "item-not-found" or "internal-server-error";
		origin.send(st.error_reply(stanza, "cancel", cond, tostring(err)));
		return true;
	end
	local page = st.stanza("page-placeholder");
	local n, last, complete = 0, nil, true;
	for key, item, when in iter do
		if n >= max then complete = false; break; end
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

-- A copy of every inbound moved subscribe to a local user goes to the component; delivery continues.
module:hook("presence/bare", function(event)
	local stanza = event.stanza;
	if component == nil or stanza.attr.type ~= "subscribe" then return; end
	if not stanza:get_child("moved", NS_MOVED) then return; end
	local node, host = jid.split(stanza.attr.to);
	if not node or host ~= module.host then return; end
	local copy = st.clone(stanza);
	copy.attr.xmlns = "jabber:client";
	module:send(st.message({ from = module.host, to = component })
		:tag("moved-subscribe", { xmlns = NS, user = node })
			:add_child(copy));
end, 100);
