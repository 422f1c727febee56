// Fetching an archive from a URL the user gives (a form field, or an attachment sent to the component).
// The component sits inside the operator's network, so a URL is a request made on the operator's
// behalf (SSRF): https on the standard port anywhere public; plain http only to this server's own
// hosts on port 80; other ports and non-public addresses only for hosts the operator lists in
// IMPORT_URL_HOSTS. The address is checked where the connection is made (our own DNS lookup, then the
// connected socket), so a name that resolves to a public address once and a private one later (DNS
// rebinding) is still refused. One deadline covers connecting, headers and body. Failures of the
// remote side get generic texts: no status, no content of whatever answered.
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction, Socket } from "node:net";
import { PassThrough, type Readable } from "node:stream";
import { isPublicAddress } from "./public-address.js";

export class UrlRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UrlRefused";
  }
}

const NOT_PUBLIC = "that link points to a private or local address";

function listed(host: string, hosts: string[]): boolean {
  return hosts.some((h) => host === h || host.endsWith(`.${h}`));
}

/** Hostname without IPv6 brackets, lower case. */
function hostnameOf(url: URL): string {
  return url.hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
}

/**
 * Checks what can be checked without a network request. `served`: this server's own domains (plain
 * http on port 80 allowed); `trusted`: IMPORT_URL_HOSTS (any scheme, port and address).
 */
export function checkImportUrl(raw: string, served: string[], trusted: string[]): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UrlRefused("that is not a valid URL");
  }
  if (url.username || url.password) throw new UrlRefused("URLs with credentials are not accepted");
  const host = hostnameOf(url);
  if (listed(host, trusted) && (url.protocol === "https:" || url.protocol === "http:")) return url;
  // URL drops the port when it is the scheme's default, so any port here is a non-default one.
  const defaultPort = url.port === "";
  const ok = (url.protocol === "https:" || (url.protocol === "http:" && listed(host, served))) && defaultPort;
  if (!ok) {
    throw new UrlRefused(
      "only https links on the standard port (or http links to this server's own domains) are accepted",
    );
  }
  if (/^[\d.]+$|:/.test(host) && !isPublicAddress(host)) throw new UrlRefused(NOT_PUBLIC);
  return url;
}

/** dns.lookup that fails for any non-public address it would hand to the connection. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, "", 4);
    const list = addresses;
    if (list.length === 0 || list.some((a) => !isPublicAddress(a.address))) {
      return callback(new UrlRefused(NOT_PUBLIC), "", 4);
    }
    if (options.all) return callback(null, list);
    const first = list[0] as dns.LookupAddress;
    callback(null, first.address, first.family);
  });
};

export interface FetchOptions {
  /** Largest body accepted (also checked against Content-Length). */
  limit: number;
  /** Overall deadline: connect, headers and the whole body. */
  timeoutMs: number;
  /** IMPORT_URL_HOSTS: exempt from the address check. */
  trustedHosts: string[];
}

/**
 * Starts the download. Resolves once headers arrived; the body then streams and errors with
 * UrlRefused when the deadline passes. The caller enforces the size limit while staging.
 */
export function fetchArchive(url: URL, o: FetchOptions): Promise<{ body: Readable; length?: number }> {
  const trusted = listed(hostnameOf(url), o.trustedHosts);
  const seconds = Math.round(o.timeoutMs / 1000);
  const tooSlow = (): UrlRefused => new UrlRefused(`the download did not finish within ${seconds} seconds`);
  const unavailable = (): UrlRefused => new UrlRefused("the link could not be downloaded");
  return new Promise((resolve, reject) => {
    const body = new PassThrough();
    /** waiting for headers → streaming the body → over (first failure or the end wins). */
    let phase: "headers" | "body" | "over" = "headers";
    const fail = (err: UrlRefused): void => {
      clearTimeout(timer);
      req.destroy();
      if (phase === "headers") reject(err);
      else if (phase === "body") body.destroy(err);
      phase = "over";
    };
    const timer = setTimeout(() => fail(tooSlow()), o.timeoutMs);
    const mod = url.protocol === "https:" ? https : http;
    const req = mod.request(url, {
      method: "GET",
      agent: false,
      ...(trusted ? {} : { lookup: publicOnlyLookup }),
      headers: { accept: "*/*", "user-agent": "xmpp-account-portability" },
    });
    req.on("socket", (socket: Socket) => {
      if (trusted) return;
      // The connected peer, whatever name resolution said (also covers literal addresses).
      socket.once("connect", () => {
        const peer = socket.remoteAddress;
        if (!peer || !isPublicAddress(peer)) fail(new UrlRefused(NOT_PUBLIC));
      });
    });
    req.on("error", (err) => fail(err instanceof UrlRefused ? err : unavailable()));
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) return fail(unavailable());
      const declared = res.headers["content-length"];
      const length = declared !== undefined ? Number(declared) : undefined;
      if (length !== undefined && length > o.limit) {
        return fail(new UrlRefused(`the file is larger than ${Math.floor(o.limit / 1024 / 1024)} MiB`));
      }
      res.on("error", () => fail(unavailable()));
      res.on("aborted", () => fail(unavailable()));
      res.on("end", () => {
        clearTimeout(timer);
        phase = "over";
      });
      body.on("close", () => {
        clearTimeout(timer);
        phase = "over";
        req.destroy();
      });
      res.pipe(body);
      phase = "body";
      resolve({ body, ...(length !== undefined && Number.isFinite(length) ? { length } : {}) });
    });
    req.end();
  });
}
