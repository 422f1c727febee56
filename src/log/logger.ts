// pino with secrets redacted once, here. Child loggers carry context ({ job, user }).
import pino, { type Logger, type DestinationStream } from "pino";

export type { Logger };

/** Paths whose values never reach a log line, at any depth we use. */
export const REDACT_PATHS = [
  "secret",
  "password",
  "passphrase",
  "*.secret",
  "*.password",
  "*.passphrase",
  "*.*.secret",
  "*.*.password",
  "config.xmppSecret",
  "xmppSecret",
  "*.xmppSecret",
  "databaseUrl",
  "*.databaseUrl",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: "[redacted]" }, base: { name: "portability" } },
    destination,
  );
}
