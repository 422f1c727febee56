// The account session of a local user, held by the component: roster through the XEP-0356 roster
// permission (a plain IQ to the user), other IQs wrapped as privileged IQs, and the message archive and
// subscription presence through the companion module when the host runs it.
import xml from "@xmpp/xml";
import type { XmppLink } from "../xmpp/link.js";
import { NS_ROSTER } from "../xmpp/namespaces.js";
import { asStanzaError, XmppStanzaError } from "../xmpp/stanza-error.js";
import { bareOf, domainOf } from "../xmpp/jid.js";
import { privilegedIq } from "../privilege/privileged-iq.js";
import type { PrivilegeRegistry } from "../privilege/registry.js";
import type { CompanionClient } from "./companion-api.js";
import { CapabilityMissingError, grantedCapabilities, type Capability } from "./capabilities.js";
import { privilegedMamTransport, queryArchivePage } from "./mam.js";
import type { AccountSession } from "./session.js";

export interface PrivilegedAccess {
  link: XmppLink;
  privileges: PrivilegeRegistry;
  companion: CompanionClient;
}

export function privilegedSession(access: PrivilegedAccess, user: string): AccountSession {
  const jid = bareOf(user);
  const host = domainOf(jid);
  const { link, companion } = access;
  const hasCompanion = (): Promise<boolean> => companion.probe(host);
  const missing = (c: Capability): string => new CapabilityMissingError(c, host).message;
  const require = async (c: Capability): Promise<void> => {
    if (!(await hasCompanion())) throw new CapabilityMissingError(c, host);
  };

  return {
    jid,
    kind: "privileged",
    async iq(type, payload, opts = {}) {
      if (payload.attrs.xmlns === NS_ROSTER && !opts.to) {
        try {
          return await link.request(xml("iq", { type, to: jid }, payload), opts.timeoutMs ?? 20_000);
        } catch (err) {
          throw asStanzaError(err) ?? err;
        }
      }
      return privilegedIq(link, {
        user: jid,
        type,
        payload,
        ...(opts.to ? { to: opts.to } : {}),
        ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      });
    },
    async capabilities() {
      return grantedCapabilities(await access.privileges.waitFor(host, 3000), await hasCompanion());
    },
    missing,
    async readArchive(q) {
      if (await hasCompanion()) return companion.readArchive(jid, q);
      try {
        return await queryArchivePage(privilegedMamTransport(link, jid), q);
      } catch (err) {
        // Stock mod_privilege crashes while delivering MAM results (docs/server-facts.md, "MAM").
        if (err instanceof XmppStanzaError && err.condition === "internal-server-error")
          throw new CapabilityMissingError("archive-read", host);
        throw err;
      }
    },
    async appendArchive(items) {
      await require("archive-write");
      return companion.appendArchive(jid, items);
    },
    async finishArchiveImport() {
      await require("archive-write");
      await companion.endArchiveImport(jid);
    },
    async sendPresence(to, type, payload) {
      await require("presence-as-user");
      await companion.sendPresence(jid, to, type, payload);
    },
  };
}
