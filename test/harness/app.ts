// Starts the real app against a throwaway Prosody.
import { startApp, type App, type AppOptions } from "../../src/app.js";
import { loadConfig } from "../../src/config/config.js";
import { createLogger } from "../../src/log/logger.js";
import type { Prosody } from "./prosody.js";

export async function startTestApp(
  prosody: Prosody,
  env: Record<string, string> = {},
  opts: AppOptions = {},
): Promise<App> {
  const config = loadConfig({
    XMPP_SERVICE: prosody.componentService,
    XMPP_DOMAIN: prosody.component,
    XMPP_SECRET: prosody.secret,
    XMPP_HOSTS: prosody.hosts.join(","),
    HTTP_LISTEN: "127.0.0.1:0",
    ADMINS: "admin@localhost",
    ...env,
  });
  return startApp(config, createLogger(process.env.TEST_LOG_LEVEL ?? "silent"), opts);
}
