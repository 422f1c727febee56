// The component's own HTTP endpoint: archive downloads (GET /download/TOKEN) and import uploads
// (PUT|POST /upload/TOKEN). Route handlers are injected so this file knows nothing about storage.
import http from "node:http";
import type { Readable } from "node:stream";
import type { Logger } from "../log/logger.js";
import { isWellFormedToken } from "./tokens.js";

export interface Download {
  filename: string;
  contentType: string;
  size: number;
  open(): Readable;
}

export interface HttpRoutes {
  download(token: string): Promise<Download | null>;
  /** Consumes the request body; returns a short text for the uploader, or throws HttpError. */
  upload?(token: string, body: Readable, length: number | undefined): Promise<string>;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpServer(
  listen: { host: string; port: number },
  routes: HttpRoutes,
  log: Logger,
): Promise<HttpServer> {
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log.error({ err }, "http handler failed");
      if (!res.headersSent) {
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
        res.end(`${err instanceof HttpError ? err.message : "internal error"}\n`);
      } else {
        res.destroy();
      }
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const [, route, token, extra] = url.pathname.split("/");
    if (!route || !token || (extra !== undefined && extra !== "")) throw new HttpError(404, "not found");
    if (!isWellFormedToken(token)) throw new HttpError(404, "not found");
    if (route === "download" && (req.method === "GET" || req.method === "HEAD")) {
      const d = await routes.download(token);
      if (!d) throw new HttpError(404, "this link is unknown or has expired");
      res.writeHead(200, {
        "content-type": d.contentType,
        "content-length": String(d.size),
        "content-disposition": `attachment; filename="${d.filename.replace(/[^A-Za-z0-9._@-]/g, "_")}"`,
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      });
      if (req.method === "HEAD") return void res.end();
      const stream = d.open();
      stream.on("error", (err) => {
        log.error({ err }, "download stream failed");
        res.destroy(err);
      });
      stream.pipe(res);
      return;
    }
    if (route === "upload" && (req.method === "PUT" || req.method === "POST") && routes.upload) {
      const len = req.headers["content-length"] ? Number(req.headers["content-length"]) : undefined;
      const text = await routes.upload(token, req, len);
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      res.end(`${text}\n`);
      return;
    }
    throw new HttpError(404, "not found");
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : listen.port;
  log.info({ host: listen.host, port }, "http listening");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
