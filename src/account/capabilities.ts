// What this component can do on a host, and what an operator must change when it cannot.
// "granted" comes from the XEP-0356 advertisement (or the companion's disco feature); "working" from
// a real read-only request, because a grant is not proof (stock mod_privilege crashes on MAM). A refused
// probe names its cause: `forbidden` means the host did not grant it, `service-unavailable` or
// `feature-not-implemented` mean the server does not offer it at all (e.g. Snikket loads no mod_private).
import xml from "@xmpp/xml";
import type { XmppLink } from "../xmpp/link.js";
import {
  NS_BLOCKING,
  NS_DISCO_INFO,
  NS_DISCO_ITEMS,
  NS_MAM,
  NS_PRIVATE,
  NS_ROSTER,
  NS_VCARD_TEMP,
} from "../xmpp/namespaces.js";
import { XmppStanzaError } from "../xmpp/stanza-error.js";
import { canIq, canRoster, type HostPrivileges } from "../privilege/advertisement.js";
import { payloadOf, privilegedIq } from "../privilege/privileged-iq.js";
import type { CompanionClient } from "./companion-api.js";
import { domainOf } from "../xmpp/jid.js";
import { privilegedMamTransport, queryArchivePage } from "./mam.js";

export const CAPABILITIES = [
  "roster-get",
  "roster-set",
  "pep",
  "vcard",
  "private",
  "blocklist",
  "message-as-user",
  "archiving",
  "archive-read",
  "archive-write",
  "presence-as-user",
  "moved-forwarding",
] as const;
export type Capability = (typeof CAPABILITIES)[number];

const COMPANION_HINT =
  "load mod_account_portability with account_portability_component set to this component";

export const CAPABILITY_INFO: Record<Capability, { name: string; fix: string; module?: string }> = {
  "roster-get": {
    name: "reading contacts",
    fix: 'grant privileged_entities roster = "get" or "both"',
    module: "mod_roster",
  },
  "roster-set": { name: "writing contacts", fix: 'grant privileged_entities roster = "set" or "both"' },
  pep: {
    name: "profile, avatar and bookmarks (PEP)",
    fix: 'grant iq ["http://jabber.org/protocol/pubsub"] = "both" (and pubsub#owner, disco#items)',
    module: "mod_pep",
  },
  vcard: { name: "vCard", fix: 'grant iq ["vcard-temp"] = "both"', module: "mod_vcard_legacy" },
  private: {
    name: "private XML storage",
    fix: 'grant iq ["jabber:iq:private"] = "both"',
    module: "mod_private",
  },
  blocklist: { name: "blocklist", fix: 'grant iq ["urn:xmpp:blocking"] = "both"', module: "mod_blocklist" },
  "message-as-user": { name: "sending messages as the user", fix: 'grant message = "outgoing"' },
  archiving: {
    name: "message archiving (MAM)",
    fix: 'grant iq ["http://jabber.org/protocol/disco#info"] = "get" so it can be checked',
    module: "mod_mam",
  },
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
  if (canIq(p, NS_DISCO_INFO, "get")) s.add("archiving");
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
  /** The server answered that it does not offer this at all (module not loaded), as opposed to refusing it. */
  notOffered?: boolean;
  detail: string;
}

/** Stanza error conditions meaning "this server has no such service", not "you may not". */
const NOT_OFFERED = new Set(["service-unavailable", "feature-not-implemented"]);

/** What an operator should read for a probe that failed. */
export function probeAdvice(r: ProbeResult): string {
  const info = CAPABILITY_INFO[r.capability];
  if (r.notOffered)
    return `${info.name} not offered by this server${info.module ? ` (${info.module} not loaded)` : ""}; load it, or accept that exports and imports skip it`;
  return `${info.name} missing (${info.fix})`;
}

/** Probes each capability with harmless requests against `probeUser` (an existing local account). */
export async function probeCapabilities(
  link: XmppLink,
  privileges: HostPrivileges | undefined,
  probeUser: string,
  companion?: CompanionClient,
): Promise<ProbeResult[]> {
  const host = domainOf(probeUser);
  const hasCompanion = companion ? await companion.probe(host).catch(() => false) : false;
  const granted = grantedCapabilities(privileges, hasCompanion);
  type Outcome = { ok: boolean; detail: string; notOffered?: boolean };
  const attempt = async (fn: () => Promise<unknown>): Promise<Outcome> => {
    try {
      await fn();
      return { ok: true, detail: "ok" };
    } catch (err) {
      if (err instanceof XmppStanzaError) {
        const why = NOT_OFFERED.has(err.condition)
          ? "not offered by this server"
          : err.condition === "forbidden"
            ? "not granted"
            : "failed";
        const detail = `${why} (${err.condition}${err.text ? `: ${err.text}` : ""})`;
        return { ok: false, detail, notOffered: NOT_OFFERED.has(err.condition) };
      }
      return { ok: false, detail: (err as Error).message };
    }
  };
  const pq =
    (ns: string, payload = xml("query", { xmlns: ns })) =>
    () =>
      privilegedIq(link, { user: probeUser, type: "get", payload, timeoutMs: 5000 });
  const probes: Record<Capability, () => Promise<Outcome>> = {
    "roster-get": () =>
      attempt(() =>
        link.request(xml("iq", { type: "get", to: probeUser }, xml("query", { xmlns: NS_ROSTER })), 5000),
      ),
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
    // XEP-0313 §6: the account's disco#info lists urn:xmpp:mam:2 when the server archives messages. The
    // companion reads Prosody's archive store directly, so without this check a server whose mod_mam is
    // not loaded would look fine while every export carries an empty history.
    archiving: async () => {
      let offered = false;
      const r = await attempt(async () => {
        const info = payloadOf(
          await privilegedIq(link, {
            user: probeUser,
            type: "get",
            payload: xml("query", { xmlns: NS_DISCO_INFO }),
            timeoutMs: 5000,
          }),
        );
        offered = (info?.getChildren("feature") ?? []).some((f) => f.attrs.var === NS_MAM);
      });
      if (!r.ok) return r;
      if (!offered)
        return {
          ok: false,
          notOffered: true,
          detail: "not offered by this server: the account has no message archive (mod_mam not loaded)",
        };
      return { ok: true, detail: "ok" };
    },
    "archive-read": async () => {
      if (hasCompanion && companion) return attempt(() => companion.readArchive(probeUser, { max: 1 }));
      // Without the companion: does MAM through privilege work here (patched/newer mod_privilege)?
      // Stock mod_privilege only crashes when a result is delivered, so an empty archive proves nothing.
      let items = 0;
      const r = await attempt(async () => {
        const page = await queryArchivePage(privilegedMamTransport(link, probeUser, 5000), { max: 1 });
        items = page.items.length;
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
      granted: granted.has(c) || ((c === "archive-read" || c === "archiving") && r.ok),
      working: r.ok,
      ...(r.notOffered ? { notOffered: true } : {}),
      detail: r.detail,
    });
  }
  return out;
}
