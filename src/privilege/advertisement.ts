// XEP-0356 permission advertisement: one <message from=HOST><privilege/></message> per granting host.
// Prosody's mod_privilege (Feb 2023) nests each <namespace/> inside the previous one (it never calls :up()),
// so IQ namespaces are collected from all descendants, not direct children. ejabberd 23.01 speaks :1 and
// lists type='none' perms explicitly.
import type { Element } from "@xmpp/xml";
import { NS_PRIVILEGE_1, NS_PRIVILEGE_2 } from "../xmpp/namespaces.js";

export type RosterPerm = "none" | "get" | "set" | "both";
export type MessagePerm = "none" | "outgoing";
export type PresencePerm = "none" | "managed_entity" | "roster";
export type IqPerm = "get" | "set" | "both";

export interface HostPrivileges {
  host: string;
  /** The namespace the server used; requests must use the same one. */
  namespace: typeof NS_PRIVILEGE_1 | typeof NS_PRIVILEGE_2;
  roster: RosterPerm;
  message: MessagePerm;
  presence: PresencePerm;
  iq: Map<string, IqPerm>;
}

const ROSTER = new Set(["none", "get", "set", "both"]);
const MESSAGE = new Set(["none", "outgoing"]);
const PRESENCE = new Set(["none", "managed_entity", "roster"]);
const IQ = new Set(["get", "set", "both"]);

/** Returns the host's privileges if the stanza is an advertisement, else null. */
export function parseAdvertisement(message: Element): HostPrivileges | null {
  if (message.name !== "message") return null;
  const priv = message.getChild("privilege", NS_PRIVILEGE_2) ?? message.getChild("privilege", NS_PRIVILEGE_1);
  const host = message.attrs.from;
  if (!priv || !host || host.includes("@") || host.includes("/")) return null;
  // A <privilege> carrying <forwarded> is a message-on-behalf echo, not an advertisement.
  if (priv.getChild("forwarded", "urn:xmpp:forward:0")) return null;
  const result: HostPrivileges = {
    host,
    namespace: priv.getNS() === NS_PRIVILEGE_1 ? NS_PRIVILEGE_1 : NS_PRIVILEGE_2,
    roster: "none",
    message: "none",
    presence: "none",
    iq: new Map(),
  };
  for (const perm of priv.getChildren("perm")) {
    const type = perm.attrs.type ?? "none";
    switch (perm.attrs.access) {
      case "roster":
        if (ROSTER.has(type)) result.roster = type as RosterPerm;
        break;
      case "message":
        if (MESSAGE.has(type)) result.message = type as MessagePerm;
        break;
      case "presence":
        if (PRESENCE.has(type)) result.presence = type as PresencePerm;
        break;
      case "iq":
        for (const ns of descendants(perm, "namespace")) {
          const t = ns.attrs.type ?? "";
          if (ns.attrs.ns && IQ.has(t)) result.iq.set(ns.attrs.ns, t as IqPerm);
        }
        break;
      default:
        break;
    }
  }
  return result;
}

function descendants(el: Element, name: string): Element[] {
  const out: Element[] = [];
  const walk = (e: Element): void => {
    for (const c of e.getChildElements()) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}

export function canIq(p: HostPrivileges | undefined, ns: string, type: "get" | "set"): boolean {
  const perm = p?.iq.get(ns);
  return perm === "both" || perm === type;
}

export function canRoster(p: HostPrivileges | undefined, type: "get" | "set"): boolean {
  return p?.roster === "both" || p?.roster === type;
}
