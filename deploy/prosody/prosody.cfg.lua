-- Prosody for docker-compose.yml (plain Prosody, not Snikket): one user domain, the portability
-- component with XEP-0356 privileges (mod_privilege from Debian's prosody-modules) and this repo's
-- companion module, mounted at /opt/portability/prosody-module. Works on Prosody 0.12 and 13.
-- For a real domain: replace "localhost" (and "portability.localhost") here and in .env, and give
-- Prosody certificates; this file runs c2s without TLS, which is only fine on a test machine.
-- The secret comes from the environment (ENV_XMPP_SECRET is $XMPP_SECRET), the one .env sets for both.

pidfile = "/var/run/prosody/prosody.pid"
data_path = "/var/lib/prosody"
plugin_paths = { "/opt/portability/prosody-module" }
log = { { levels = { min = "info" }, to = "console" } }

-- Inside the compose network the component connects from another container.
interfaces = { "*" }
component_interfaces = { "*" }
c2s_ports = { 5222 }
component_ports = { 5347 }
s2s_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

authentication = "internal_hashed"
storage = "internal"
-- Exports include the message archive: keep it, and archive by default.
archive_expires_after = "never"
default_archive_policy = true

modules_enabled = {
  "roster"; "saslauth"; "disco"; "carbons"; "pep"; "private"; "blocklist"; "vcard4"; "vcard_legacy";
  "bookmarks"; "mam"; "offline"; "ping"; "time"; "version"; "uptime"; "admin_shell";
  "privilege";            -- XEP-0356
  "account_portability";  -- companion module (message archive, presence, inbound moves)
}
modules_disabled = { "s2s"; "tls" }
account_portability_component = "portability.localhost"

local portability_privileges = {
  roster = "both"; message = "outgoing"; presence = "managed_entity";
  iq = {
    ["http://jabber.org/protocol/pubsub"] = "both";
    ["http://jabber.org/protocol/pubsub#owner"] = "both";
    ["urn:xmpp:mam:2"] = "both";
    ["vcard-temp"] = "both";
    ["jabber:iq:private"] = "both";
    ["urn:xmpp:blocking"] = "both";
    ["http://jabber.org/protocol/disco#items"] = "get";
    ["http://jabber.org/protocol/disco#info"] = "get";
  };
}

VirtualHost "localhost"
  privileged_entities = { ["portability.localhost"] = portability_privileges }

Component "portability.localhost"
  component_secret = ENV_XMPP_SECRET
  modules_enabled = { "privilege" }   -- components do not inherit global modules
