-- xmpp-account-portability on Snikket (Prosody 13): copy this file to /snikket/prosody/portability.cfg.lua.
-- Snikket's prosody.cfg.lua reads it through the Include on its last line, and only /snikket survives image
-- updates. Requires in the server's environment (snikket.conf, or the compose override in this folder):
--   PORTABILITY_SECRET    the component secret (the component's XMPP_SECRET)
-- Optional:
--   PORTABILITY_COMPONENT the component's JID (default portability.<SNIKKET_DOMAIN>)
--   PORTABILITY_PLUGIN_DIR where mod_account_portability.lua lives (default /snikket/prosody/plugins)
--
-- Rules this file follows (docs/snikket.md):
--   * lists are extended with :append; `modules_enabled = { … }` here would REPLACE Snikket's own list and
--     nobody could log in any more;
--   * Snikket's `local DOMAIN` is invisible here: use ENV_SNIKKET_DOMAIN;
--   * global options come first: an option written after a section line belongs to that section;
--   * no bare Lua globals (tonumber, error…): deprecated in Prosody 13's config.

local component = ENV_PORTABILITY_COMPONENT or ("portability." .. ENV_SNIKKET_DOMAIN)

plugin_paths:append { ENV_PORTABILITY_PLUGIN_DIR or "/snikket/prosody/plugins" }
modules_enabled:append {
	"privilege"; -- XEP-0356; Snikket ships it in /etc/prosody/modules
	"account_portability"; -- the companion module (message archive, presence, XEP-0283 notices)
}
account_portability_component = component

-- Re-opening Snikket's VirtualHost keeps its options and adds this one.
VirtualHost (ENV_SNIKKET_DOMAIN)
	privileged_entities = {
		[component] = {
			roster = "both";
			message = "outgoing";
			presence = "managed_entity";
			iq = {
				["http://jabber.org/protocol/pubsub"] = "both";
				["http://jabber.org/protocol/pubsub#owner"] = "both";
				["urn:xmpp:mam:2"] = "both";
				["vcard-temp"] = "both";
				["jabber:iq:private"] = "both"; -- Snikket loads no mod_private: exports skip it
				["urn:xmpp:blocking"] = "both";
				["http://jabber.org/protocol/disco#items"] = "get";
				["http://jabber.org/protocol/disco#info"] = "get";
			};
		};
	}

-- Components do not inherit global modules: mod_privilege must be listed here as well.
Component (component)
	component_secret = ENV_PORTABILITY_SECRET
	modules_enabled = { "privilege" }
