// The import command as a user runs it: get an upload link, upload, preview, start, wait for the result.
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import type { Element } from "@xmpp/xml";
import type { TestClient } from "./clients.js";
import { commandStage } from "./commands.js";
import { localUrl } from "./app.js";

const NS_DATA = "jabber:x:data";

/** One command step; `fields` values may be lists (list-multi). */
export function commandStep(
  c: TestClient,
  to: string,
  node: string,
  o: { sessionid?: string; action?: string; fields?: Record<string, string | string[]> } = {},
): Promise<Element> {
  return commandStage(c, to, node, o.sessionid, o.fields, o.action ?? "execute", 120_000);
}

/** The app's public URL placeholder replaced by its real port. */
export const realUrl = localUrl;

/** What the import flow needs of an app: its HTTP port. */
type HttpApp = { http: { port: number } };

export async function uploadLink(c: TestClient, component: string, app: HttpApp): Promise<string> {
  const s1 = await commandStep(c, component, "import");
  const done = await commandStep(c, component, "import", {
    sessionid: s1.attrs.sessionid,
    action: "next",
    fields: { source: "upload" },
  });
  const url = done.getChild("x", "jabber:x:oob")?.getChildText("url");
  if (!url) throw new Error("no upload link");
  return realUrl(url, app);
}

/** PUTs a file (streamed) or a body to a fresh upload link. */
export async function uploadArchive(
  c: TestClient,
  component: string,
  app: HttpApp,
  body: string | Uint8Array | { file: string },
): Promise<Response> {
  const url = await uploadLink(c, component, app);
  if (typeof body === "object" && "file" in body) {
    const stream = Readable.toWeb(createReadStream(body.file)) as ReadableStream<Uint8Array>;
    return fetch(url, { method: "PUT", body: stream, duplex: "half" });
  }
  return fetch(url, { method: "PUT", body });
}

/** Starts the import command on the newest staged archive; returns the next stage (a form). */
export async function openStaged(c: TestClient, component: string): Promise<Element> {
  const s1 = await commandStep(c, component, "import");
  const source =
    s1
      .getChild("x", NS_DATA)
      ?.getChildren("field")
      .find((f) => f.attrs.var === "source")
      ?.getChildText("value") ?? "";
  return commandStep(c, component, "import", {
    sessionid: s1.attrs.sessionid,
    action: "next",
    fields: { source },
  });
}

/** The fixed lines of a form stage. */
export function fixedLines(cmd: Element): string[] {
  return (
    cmd
      .getChild("x", NS_DATA)
      ?.getChildren("field")
      .filter((f) => f.attrs.type === "fixed")
      .map((f) => f.getChildText("value") ?? "") ?? []
  );
}

/** Fixed fields and notes of a command stage, one per line. */
export function formText(cmd: Element): string {
  const notes = cmd.getChildren("note").map((n) => n.getText());
  const instructions = cmd.getChild("x", NS_DATA)?.getChildText("instructions");
  return [...(instructions ? [instructions] : []), ...fixedLines(cmd), ...notes].join("\n");
}

/** A form field of a stage. */
export function formField(cmd: Element, name: string): Element | undefined {
  return cmd
    .getChild("x", NS_DATA)
    ?.getChildren("field")
    .find((f) => f.attrs.var === name);
}

/** Submits the preview and waits for the component's "finished" (or "failed") chat message. */
export async function runImport(
  c: TestClient,
  component: string,
  preview: Element,
  fields: Record<string, string | string[]>,
  timeoutMs = 600_000,
): Promise<string> {
  const seen = c.inbox.length;
  await commandStep(c, component, "import", {
    sessionid: preview.attrs.sessionid,
    action: "complete",
    fields,
  });
  const done = await c.waitFor(
    (m) =>
      c.inbox.indexOf(m) >= seen &&
      m.attrs.from === component &&
      /^Import into .* (finished|failed)/.test(m.getChildText("body") ?? ""),
    timeoutMs,
  );
  return done.getChildText("body") ?? "";
}
