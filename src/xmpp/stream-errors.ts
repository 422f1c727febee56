// Which stream errors Prosody closes the component stream with are worth retrying. A wrong secret
// (`not-authorized`) or a domain with no Component section (`host-unknown`) fails the same way on
// every attempt, so retrying only hides the mistake; anything else (shutdown, conflict) may pass.

export interface StreamFailure {
  condition: string;
  /** What the operator should change, naming the setting on each side. */
  advice: string;
}

/** The advice for a permanent stream error condition, or undefined when retrying may help. */
export function permanentStreamFailure(
  condition: string,
  o: { service: string; domain: string },
): StreamFailure | undefined {
  switch (condition) {
    case "not-authorized":
      return {
        condition,
        advice:
          `the XMPP server at ${o.service} refused the component secret for ${o.domain}: XMPP_SECRET must ` +
          `equal component_secret in the Component "${o.domain}" section of prosody.cfg.lua`,
      };
    case "host-unknown":
      return {
        condition,
        advice:
          `the XMPP server at ${o.service} has no component named ${o.domain}: XMPP_DOMAIN must be the name ` +
          `of a Component section in prosody.cfg.lua (see README "Prosody setup"), or XMPP_SERVICE points ` +
          `at the wrong server`,
      };
    default:
      return undefined;
  }
}

/** The condition of an xmpp.js StreamError, or undefined for other errors (sockets, timeouts). */
export function streamErrorCondition(err: Error): string | undefined {
  if (err.name !== "StreamError" || !("condition" in err)) return undefined;
  return typeof err.condition === "string" ? err.condition : undefined;
}
