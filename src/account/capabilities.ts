// What this component can do on a host, and what an operator must change when it cannot.
// "granted" comes from the XEP-0356 advertisement (or the companion's disco feature); "working" from
// a real read-only request, because a grant is not proof (stock mod_privilege crashes on MAM).
import xml from "@xmpp/xml";
import type { XmppLink } from "../xmpp/link.js";
import { NS_BLOCKING, NS_DISCO_ITEMS, NS_MAM, NS_PRIVATE, NS_VCARD_TEMP } from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { canIq, canRoster, type HostPrivileges } from "../privilege/advertisement.js";
import { privilegedIq } from "../privilege/privileged-iq.js";
import type { CompanionClient } from "./companion-api.js";
import { getRoster } from "./roster.js";
import { queryArchivePage } from "./mam.js";

export const CAPABILITIES = [
  "roster-get",
  "roster-set",
  "pep",
  "vcard",
  "private",
  "blocklist",
  "message-as-user",
  "archive-read",
  "archive-write",
  "presence-as-user",
  "moved-forwarding",
] as const;
export type Capability = (typeof CAPABILITIES)[number];

const COMPANION_HINT =
  "load mod_account_portability with account_portability_component set to this component";

export const CAPABILITY_INFO: Record<Capability, { name: string; fix: string }> = {
  "roster-get": { name: "reading contacts", fix: 'grant privileged_entities roster = "get" or "both"' },
  "roster-set": { name: "writing contacts", fix: 'grant privileged_entities roster = "set" or "both"' },
  pep: {
    name: "profile, avatar and bookmarks (PEP)",
    fix: 'grant iq ["http://jabber.org/protocol/pubsub"] = "both" (and pubsub#owner, disco#items)',
  },
  vcard: { name: "vCard", fix: 'grant iq ["vcard-temp"] = "both"' },
  private: { name: "private XML storage", fix: 'grant iq ["jabber:iq:private"] = "both"' },
  blocklist: { name: "blocklist", fix: 'grant iq ["urn:xmpp:blocking"] = "both"' },
  "message-as-user": { name: "sending messages as the user", fix: 'grant message = "outgoing"' },
  "archive-read": { name: "reading the message archive", fix: COMPANION_HINT },
  "archive-write": { name: "writing the message archive", fix: COMPANION_HINT },
  "presence-as-user": { name: "sending subscription presence as the user", fix: COMPANION_HINT },
  "moved-forwarding": { name: "receiving XEP-0283 moved notices", fix: COMPANION_HINT },
};

export class CapabilityMissingError extends Error {
  constructor(
    readonly capability: Capability,
    readonly host: string,
  ) {
    const info = CAPABILITY_INFO[capability];
    super(`capability missing on ${host}: ${info.name} (${info.fix})`);
    this.name = "CapabilityMissingError";
  }
}

/** Capabilities a host's advertisement (and companion presence) grants, without probing. */
export function grantedCapabilities(p: HostPrivileges | undefined, companion: boolean): Set<Capability> {
  const s = new Set<Capability>();
  if (canRoster(p, "get")) s.add("roster-get");
  if (canRoster(p, "set")) s.add("roster-set");
  if (canIq(p, "http://jabber.org/protocol/pubsub", "get")) s.add("pep");
  if (canIq(p, NS_VCARD_TEMP, "get")) s.add("vcard");
  if (canIq(p, NS_PRIVATE, "get")) s.add("private");
  if (canIq(p, NS_BLOCKING, "get")) s.add("blocklist");
  if (p?.message === "outgoing") s.add("message-as-user");
  // Granted, but stock mod_privilege crashes on results: only the probe tells whether it works.
  if (canIq(p, NS_MAM, "set")) s.add("archive-read");
  if (companion) {
    s.add("archive-read");
    s.add("archive-write");
    s.add("presence-as-user");
    s.add("moved-forwarding");
  }
  return s;
}

export interface ProbeResult {
  capability: Capability;
  granted: boolean;
  working: boolean;
  detail: string;
}

/** Probes each capability with harmless requests against `probeUser` (an existing local account). */
export async function probeCapabilities(
  link: XmppLink,
  privileges: HostPrivileges | undefined,
  probeUser: string,
  companion?: CompanionClient,
): Promise<ProbeResult[]> {
  const host = probeUser.slice(probeUser.indexOf("@") + 1);
  const hasCompanion = companion ? await companion.probe(host).catch(() => false) : false;
  const granted = grantedCapabilities(privileges, hasCompanion);
  const attempt = async (fn: () => Promise<unknown>): Promise<{ ok: boolean; detail: string }> => {
    try {
      await fn();
      return { ok: true, detail: "ok" };
    } catch (err) {
      if (err instanceof XmppStanzaError)
        return { ok: false, detail: `${err.condition}${err.text ? `: ${err.text}` : ""}` };
      return { ok: false, detail: (err as Error).message };
    }
  };
  const pq =
    (ns: string, payload = xml("query", { xmlns: ns })) =>
    () =>
      privilegedIq(link, { user: probeUser, type: "get", payload, timeoutMs: 5000 });
  const probes: Record<Capability, () => Promise<{ ok: boolean; detail: string }>> = {
    "roster-get": () => attempt(() => getRoster(link, probeUser)),
    // Writing is not probed on a real account; the grant is what we can check.
    "roster-set": async () => ({
      ok: granted.has("roster-set"),
      detail: granted.has("roster-set") ? "granted (not written)" : "not granted",
    }),
    pep: () => attempt(pq(NS_DISCO_ITEMS)),
    vcard: () => attempt(pq(NS_VCARD_TEMP, xml("vCard", { xmlns: NS_VCARD_TEMP }))),
    private: () =>
      attempt(
        pq(NS_PRIVATE, xml("query", { xmlns: NS_PRIVATE }, xml("storage", { xmlns: "storage:rosternotes" }))),
      ),
    blocklist: () => attempt(pq(NS_BLOCKING, xml("blocklist", { xmlns: NS_BLOCKING }))),
    "message-as-user": async () => ({
      ok: granted.has("message-as-user"),
      detail: granted.has("message-as-user") ? "granted (not sent)" : "not granted",
    }),
    "archive-read": async () => {
      if (hasCompanion && companion) return attempt(() => companion.readArchive(probeUser, { max: 1 }));
      // Without the companion: does MAM through privilege work here (patched/newer mod_privilege)?
      // Stock mod_privilege only crashes when a result is delivered, so an empty archive proves nothing.
      let items = 0;
      const r = await attempt(async () => {
        items = (await queryArchivePage(link, probeUser, { max: 1 })).items.length;
      });
      if (r.ok && items === 0)
        return { ok: false, detail: "inconclusive: the probe account's archive is empty" };
      return r;
    },
    "archive-write": async () => ({
      ok: hasCompanion,
      detail: hasCompanion ? "companion module present" : "no companion module",
    }),
    "presence-as-user": async () => ({
      ok: hasCompanion,
      detail: hasCompanion ? "companion module present" : "no companion module",
    }),
    "moved-forwarding": async () => ({
      ok: hasCompanion,
      detail: hasCompanion ? "companion module present" : "no companion module",
    }),
  };
  const out: ProbeResult[] = [];
  for (const c of CAPABILITIES) {
    const r = await probes[c]();
    out.push({
      capability: c,
      granted: granted.has(c) || (c === "archive-read" && r.ok),
      working: r.ok,
      detail: r.detail,
    });
  }
  return out;
}
