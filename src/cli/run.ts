// `portability run`: the long-running service. Stops cleanly on SIGTERM/SIGINT (also one arriving
// during start-up), and exits non-zero when the XMPP server refuses the component for good, so a
// supervisor shows the reason instead of a process retrying forever.
import type { Config } from "../config/config.js";
import { describeConfig } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import type { StreamFailure } from "../xmpp/stream-errors.js";

/** EX_CONFIG from sysexits.h: the systemd unit does not restart on it (RestartPreventExitStatus). */
export const EXIT_CONFIG = 78;

type Outcome = { kind: "signal"; signal: NodeJS.Signals } | { kind: "fatal"; failure: StreamFailure };

export async function runService(config: Config, log: Logger, configSource: string): Promise<number> {
  let settle!: (o: Outcome) => void;
  const outcome = new Promise<Outcome>((resolve) => (settle = resolve));
  const onSignal = (signal: NodeJS.Signals): void => settle({ kind: "signal", signal });
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  log.info({ config: describeConfig(config), configuration: configSource }, "starting");
  const { startApp } = await import("../app.js");
  const app = await startApp(config, log, { waitOnline: false });
  const offFatal = app.link.onFatal((failure) => settle({ kind: "fatal", failure }));

  const o = await outcome;
  offFatal();
  if (o.kind === "signal")
    log.info({ signal: o.signal, deadlineSeconds: config.shutdownSeconds }, "stopping");
  // Jobs are aborted and handed back to the queue within the grace (app.stop); whatever still hangs
  // (a slow request, the database) must not keep the process alive past the deadline. A second signal
  // exits at once.
  const forced = (): void => process.exit(1);
  process.once("SIGINT", forced);
  process.once("SIGTERM", forced);
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    app.stop().then(() => true),
    new Promise<false>(
      (resolve) => (timer = setTimeout(() => resolve(false), config.shutdownSeconds * 1000)),
    ),
  ]);
  clearTimeout(timer);
  if (!stopped) {
    log.warn("shutdown deadline reached: exiting anyway");
    return 1;
  }
  if (o.kind === "fatal") {
    log.fatal({ condition: o.failure.condition }, `stopped: ${o.failure.advice}`);
    return EXIT_CONFIG;
  }
  log.info("stopped");
  return 0;
}
