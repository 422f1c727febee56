// JIDs as this project handles them: addresses the server already prepared (stanza attributes) or
// that a person typed into a form. Every split of a JID into its parts happens here.

export interface JidParts {
  /** Lower-cased local part, "" for a domain JID. */
  local: string;
  /** Lower-cased domain. */
  domain: string;
  /** Resource as sent (case kept), "" when bare. */
  resource: string;
}

/** Splits "local@domain/resource" (the resource may itself contain "@" or "/"). */
export function parseJid(jid: string): JidParts {
  const trimmed = jid.trim();
  const slash = trimmed.indexOf("/");
  const bare = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const resource = slash === -1 ? "" : trimmed.slice(slash + 1);
  const at = bare.indexOf("@");
  return {
    local: at === -1 ? "" : bare.slice(0, at).toLowerCase(),
    domain: (at === -1 ? bare : bare.slice(at + 1)).toLowerCase(),
    resource,
  };
}

/** The bare JID, lower-cased ("Ada@Example.org/phone" → "ada@example.org"). */
export function bareOf(jid: string): string {
  const { local, domain } = parseJid(jid);
  return local ? `${local}@${domain}` : domain;
}

/** The domain ("ada@example.org/phone" → "example.org"). */
export function domainOf(jid: string): string {
  return parseJid(jid).domain;
}

/** The local part ("ada@example.org" → "ada"). */
export function localOf(jid: string): string {
  return parseJid(jid).local;
}

/** The resource, "" when bare. */
export function resourceOf(jid: string): string {
  return parseJid(jid).resource;
}

/** True for "local@domain" with both parts non-empty and no resource. */
export function isBareAccountJid(jid: string): boolean {
  const p = parseJid(jid);
  return p.local !== "" && p.domain !== "" && p.resource === "" && !jid.trim().endsWith("/");
}

/** Replaces the bare part of `jid` with `bare`, keeping its resource (remapping an old address). */
export function withBare(jid: string, bare: string): string {
  const r = resourceOf(jid);
  return r ? `${bare}/${r}` : bare;
}
