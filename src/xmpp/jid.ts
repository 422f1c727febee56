// Parts of bare JIDs as this project handles them (already validated or prepared by the server).

/** The domain of a bare JID ("ada@example.org" → "example.org"). */
export function domainOf(jid: string): string {
  return jid.slice(jid.indexOf("@") + 1);
}
