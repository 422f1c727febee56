// Composition root: builds every service from the config and wires them to the XMPP link.
// Each dependency is a plain value handed to the functions that need it (xmpp.js plugin style).
import type { Config } from "./config/config.js";
import type { Logger } from "./log/logger.js";
import { createComponentLink, type ComponentLink } from "./xmpp/component-link.js";
import { createPrivilegeRegistry, type PrivilegeRegistry } from "./privilege/registry.js";
import { createCommandRouter } from "./adhoc/router.js";
import { registerDisco } from "./adhoc/disco.js";
import type { Command } from "./adhoc/command.js";
import { startHttpServer, type HttpServer, type HttpRoutes } from "./http/server.js";

export interface AppServices {
  config: Config;
  log: Logger;
  link: ComponentLink;
  privileges: PrivilegeRegistry;
}

export interface App extends AppServices {
  http: HttpServer;
  stop(): Promise<void>;
}

export type CommandFactory = (s: AppServices) => Command;

export interface AppOptions {
  /** Extra commands (tests). */
  commands?: CommandFactory[];
  /** Skip waiting for the first connection (production keeps retrying in the background). */
  waitOnline?: boolean;
}

export async function startApp(config: Config, log: Logger, opts: AppOptions = {}): Promise<App> {
  const link = createComponentLink({
    service: config.xmppService,
    domain: config.xmppDomain,
    secret: config.xmppSecret,
    log: log.child({ part: "xmpp" }),
  });
  const privileges = createPrivilegeRegistry(link);
  const services: AppServices = { config, log, link, privileges };

  const commands = [...(opts.commands ?? [])].map((f) => f(services));
  const router = createCommandRouter({
    commands,
    hosts: config.xmppHosts,
    admins: config.admins,
    sessionTtlMs: config.commandSessionTtlSeconds * 1000,
    log: log.child({ part: "adhoc" }),
  });
  registerDisco(link, router);

  const routes: HttpRoutes = { download: async () => null };
  const http = await startHttpServer(config.httpListen, routes, log.child({ part: "http" }));

  if (opts.waitOnline === false) {
    link.start().catch((err: unknown) => log.warn({ err }, "first connection failed; retrying"));
  } else {
    await startWithRetry(link, log);
  }

  return {
    ...services,
    http,
    async stop() {
      await link.stop();
      await http.close();
      privileges.dispose();
    },
  };
}

/** The first connection may fail (Prosody not up yet): keep trying instead of exiting. */
async function startWithRetry(link: ComponentLink, log: Logger): Promise<void> {
  for (let delay = 500; ; delay = Math.min(delay * 2, 30_000)) {
    try {
      await link.start();
      return;
    } catch (err) {
      log.warn({ err: (err as Error).message, retryInMs: delay }, "cannot connect to the XMPP server yet");
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
