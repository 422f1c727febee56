// The import command as a client drives it: get an upload link, PUT the file, preview, submit.
import type { Element } from "@xmpp/xml";
import type { TestClient } from "./clients.js";
import { commandStage } from "./commands.js";
import * as flow from "./import-flow.js";

/** One command stage (the harness's commandStage under the name these tests use). */
export const commandStep = commandStage;

/** Uploads `body` through a fresh one-time link; resolves with the HTTP response. */
export function uploadArchive(
  c: TestClient,
  app: { http: { port: number } },
  to: string,
  body: Uint8Array | string,
): Promise<Response> {
  return flow.uploadArchive(c, to, app, body);
}

/** Opens the import command on the most recently staged archive: the preview stage. */
export const previewStaged = flow.openStaged;

/** The fixed lines of a form stage. */
export function fixedLines(cmd: Element): string[] {
  return (
    cmd
      .getChild("x")
      ?.getChildren("field")
      .filter((f) => f.attrs.type === "fixed")
      .map((f) => f.getChildText("value") ?? "") ?? []
  );
}
