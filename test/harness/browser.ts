// Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
// messages separated by NUL bytes on fds 3 and 4), so no WebSocket client or npm package is needed.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable, Writable } from "node:stream";

export type CdpParams = Record<string, unknown>;
interface CdpMessage {
  id?: number;
  method?: string;
  params?: CdpParams;
  result?: CdpParams;
  error?: { message: string };
  sessionId?: string;
}

export interface Browser {
  /** A command to the browser, or to a page when `sessionId` is given. */
  send(method: string, params?: CdpParams, sessionId?: string): Promise<CdpParams>;
  /** The next event `method` (of `sessionId`, if given) matching `pred`. */
  event(method: string, pred?: (p: CdpParams) => boolean, timeoutMs?: number): Promise<CdpParams>;
  /** A new tab; returns its session id. */
  newPage(): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = await mkdtemp(path.join(tmpdir(), "portability-chromium-"));
  const proc: ChildProcess = spawn(
    "chromium",
    [
      "--headless=new",
      "--remote-debugging-pipe",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-extensions",
      "--disable-background-networking",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] },
  );
  const toBrowser = proc.stdio[3] as Writable;
  const fromBrowser = proc.stdio[4] as Readable;
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: CdpParams) => void; reject: (e: Error) => void }>();
  const listeners: { method: string; pred: (m: CdpMessage) => boolean; resolve: (p: CdpParams) => void }[] =
    [];
  let buffered = "";
  fromBrowser.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    let end: number;
    while ((end = buffered.indexOf("\0")) >= 0) {
      const msg = JSON.parse(buffered.slice(0, end)) as CdpMessage;
      buffered = buffered.slice(end + 1);
      if (msg.id !== undefined) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result ?? {});
      } else if (msg.method) {
        for (const l of [...listeners]) {
          if (l.method === msg.method && l.pred(msg)) {
            listeners.splice(listeners.indexOf(l), 1);
            l.resolve(msg.params ?? {});
          }
        }
      }
    }
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));

  const send = (method: string, params: CdpParams = {}, sessionId?: string): Promise<CdpParams> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });

  const browser: Browser = {
    send,
    event(method, pred = () => true, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const l = {
          method,
          pred: (m: CdpMessage) => pred(m.params ?? {}),
          resolve: (p: CdpParams) => {
            clearTimeout(timer);
            resolve(p);
          },
        };
        const timer = setTimeout(() => {
          listeners.splice(listeners.indexOf(l), 1);
          reject(new Error(`timeout waiting for ${method}`));
        }, timeoutMs);
        listeners.push(l);
      });
    },
    async newPage() {
      const { targetId } = await send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
      await send("Page.enable", {}, sessionId as string);
      return sessionId as string;
    },
    async close() {
      await send("Browser.close").catch(() => undefined);
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      await rm(profile, { recursive: true, force: true });
    },
  };
  await send("Browser.getVersion");
  return browser;
}

/** Navigates a page and waits for its load event. */
export async function goto(b: Browser, page: string, url: string): Promise<void> {
  const loaded = b.event("Page.loadEventFired");
  await b.send("Page.navigate", { url }, page);
  await loaded;
}

/** Evaluates an expression in the page (the test driver's hand, not the page's own script). */
export async function evaluate(b: Browser, page: string, expression: string): Promise<unknown> {
  const r = await b.send("Runtime.evaluate", { expression, returnByValue: true }, page);
  return (r.result as { value?: unknown } | undefined)?.value;
}
