// Logging in to the other account of a move (move-away's new one, move-here's old one).
import type { Config } from "../config/config.js";
import { JobFailure } from "../jobs/runner.js";
import { LoginFailure, clientServiceFor, loginAsClient } from "../xmpp/client-login.js";

/** Logs in for a move; a failed login is a failure the person can act on. */
export async function loginForMove(config: Config, jid: string, password: string) {
  try {
    return await loginAsClient(clientServiceFor(config, jid), jid, password);
  } catch (err) {
    if (err instanceof LoginFailure) throw new JobFailure(err.message);
    throw err;
  }
}
