// Fetching an archive from a URL the user gives (a form field, or an attachment sent to the component):
// https anywhere, plain http only to the configured hosts; size-limited and time-limited, streamed.
import { Readable } from "node:stream";

export class UrlRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UrlRefused";
  }
}

export function checkImportUrl(raw: string, hosts: string[]): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UrlRefused("that is not a valid URL");
  }
  if (url.username || url.password) throw new UrlRefused("URLs with credentials are not accepted");
  const host = url.hostname.toLowerCase();
  const listed = hosts.some((h) => host === h || host.endsWith(`.${h}`));
  if (url.protocol === "https:" || (url.protocol === "http:" && listed)) return url;
  throw new UrlRefused("only https links (or links to this server's own hosts) are accepted");
}

/** Starts the download (the caller enforces the size limit while staging). */
export async function fetchArchive(
  url: URL,
  limit: number,
  timeoutMs = 120_000,
): Promise<{ body: Readable; length?: number }> {
  const res = await fetch(url, { redirect: "error", signal: AbortSignal.timeout(timeoutMs) }).catch(() => {
    throw new UrlRefused("the link could not be fetched");
  });
  if (!res.ok || !res.body) throw new UrlRefused(`the link answered HTTP ${res.status}`);
  const declared = res.headers.get("content-length");
  const length = declared ? Number(declared) : undefined;
  if (length !== undefined && length > limit) throw new UrlRefused(`the file is larger than ${limit} bytes`);
  const body = Readable.fromWeb(res.body);
  return { body, ...(length !== undefined ? { length } : {}) };
}
