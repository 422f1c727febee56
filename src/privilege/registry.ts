// Per-host privileges as advertised on the current stream. Cleared when the stream drops: the server
// re-advertises right after each handshake (often before xmpp.js reports 'online'), and an operator
// may have changed the grants meanwhile.
import type { XmppLink } from "../xmpp/link.js";
import { parseAdvertisement, type HostPrivileges } from "./advertisement.js";

export interface PrivilegeRegistry {
  get(host: string): HostPrivileges | undefined;
  hosts(): string[];
  /** Resolves once `host` has advertised, or after timeoutMs with whatever is known. */
  waitFor(host: string, timeoutMs?: number): Promise<HostPrivileges | undefined>;
  dispose(): void;
}

export function createPrivilegeRegistry(link: XmppLink): PrivilegeRegistry {
  const byHost = new Map<string, HostPrivileges>();
  const waiters = new Map<string, Set<(p: HostPrivileges) => void>>();
  const offStanza = link.onStanza((el) => {
    const adv = parseAdvertisement(el);
    if (!adv) return;
    byHost.set(adv.host, adv);
    for (const w of waiters.get(adv.host) ?? []) w(adv);
    waiters.delete(adv.host);
  });
  const offOffline = link.onOffline(() => byHost.clear());
  return {
    get: (host) => byHost.get(host),
    hosts: () => [...byHost.keys()],
    waitFor(host, timeoutMs = 5000) {
      const known = byHost.get(host);
      if (known) return Promise.resolve(known);
      return new Promise((resolve) => {
        const set = waiters.get(host) ?? new Set();
        waiters.set(host, set);
        const done = (p: HostPrivileges | undefined): void => {
          clearTimeout(timer);
          set.delete(done);
          resolve(p);
        };
        const timer = setTimeout(() => done(byHost.get(host)), timeoutMs);
        set.add(done);
      });
    },
    dispose() {
      offStanza();
      offOffline();
    },
  };
}
