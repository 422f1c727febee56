// Logging in to another server as an ordinary client with the user's password (move-away, move-here).
// The password is only ever sent over TLS with a validated certificate: STARTTLS (checked against the
// account's domain) or direct TLS (xmpps://, checked against the endpoint's host name). A server that
// offers no STARTTLS — or an attacker who strips it — gets no authentication attempt at all, not even
// SCRAM (which would still allow offline guessing or a relay). The one exception is an endpoint the
// operator marked as trusted cleartext (xmpp+insecure://, loopback only; see config.ts), for tests and
// same-machine setups.
import { client, type Client } from "@xmpp/client";
import type { Config } from "../config/config.js";
import { domainOf, localOf } from "./jid.js";

/** A login failure whose message is safe to show the user (never the underlying error). */
export class LoginFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LoginFailure";
  }
}

export const INSECURE_SCHEME = "xmpp+insecure:";

/** True for an endpoint the operator declared trusted cleartext (loopback only, enforced by config). */
export function isTrustedCleartext(service: string): boolean {
  return service.startsWith(`${INSECURE_SCHEME}//`);
}

/** Mechanism to use, or null when authenticating now would expose the password. Pure, for tests. */
export function chooseMechanism(
  mechanisms: string[],
  secure: boolean,
  trustedCleartext: boolean,
): string | null {
  if (!secure && !trustedCleartext) return null;
  if (trustedCleartext && !secure) {
    // Loopback test servers: PLAIN is cheaper and equally private on the same machine.
    return mechanisms.includes("PLAIN") ? "PLAIN" : mechanisms.includes("SCRAM-SHA-1") ? "SCRAM-SHA-1" : null;
  }
  if (mechanisms.includes("SCRAM-SHA-1")) return "SCRAM-SHA-1";
  if (mechanisms.includes("PLAIN")) return "PLAIN";
  return null;
}

/** Logs in as `jid`; throws LoginFailure with a reason the user can act on. */
export async function loginAsClient(service: string, jid: string, password: string): Promise<Client> {
  const local = localOf(jid);
  const domain = domainOf(jid);
  const trusted = isTrustedCleartext(service);
  let refusal: string | null = null;
  const c = client({
    service: trusted ? `xmpp:${service.slice(INSECURE_SCHEME.length)}` : service,
    domain,
    resource: `portability-${Date.now().toString(36)}`,
    credentials: async (authenticate, mechanisms, _fast, entity) => {
      const mech = chooseMechanism(mechanisms, entity.isSecure(), trusted);
      if (!mech) {
        refusal = entity.isSecure()
          ? `${domain} offers no supported login method (SCRAM-SHA-1 or PLAIN)`
          : `${domain} did not offer an encrypted connection (STARTTLS), so the password was not sent`;
        throw new LoginFailure(refusal);
      }
      await authenticate({ username: local, password }, mech);
    },
  });
  c.on("error", () => undefined);
  c.reconnect.stop();
  try {
    await c.start();
  } catch {
    await c.stop().catch(() => undefined);
    // Never include the underlying error: some libraries echo credentials.
    throw new LoginFailure(refusal ?? `could not log in to ${jid}: check the address and password`);
  }
  return c;
}

/** The client endpoint for an account's domain: configured (XMPP_CLIENT_SERVICES), else the domain itself. */
export function clientServiceFor(config: Config, jid: string): string {
  const domain = domainOf(jid);
  return config.clientServices[domain] ?? `xmpp://${domain}:5222`;
}
