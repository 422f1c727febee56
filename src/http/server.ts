// The component's own HTTP endpoint: archive downloads (GET /download/TOKEN), import uploads
// (PUT|POST /upload/TOKEN: the raw file, or a browser's multipart form; GET shows that form) and
// GET /healthz for supervisors. Route handlers are injected so this file knows nothing about storage.
import http from "node:http";
import type { Readable } from "node:stream";
import type { Logger } from "../log/logger.js";
import { isWellFormedToken } from "./tokens.js";
import { firstFilePart, formDataBoundary } from "./multipart.js";
import { uploadDonePage, uploadFailedPage, uploadFormPage } from "./upload-page.js";

export interface Download {
  filename: string;
  contentType: string;
  size: number;
  open(): Readable;
}

export interface Health {
  /** 200 when true, 503 otherwise. */
  ok: boolean;
  /** Sent as the JSON body. */
  report: Record<string, unknown>;
}

export interface HttpRoutes {
  health?(): Promise<Health>;
  download(token: string): Promise<Download | null>;
  /** Consumes the request body; returns a short text for the uploader, or throws HttpError. */
  upload?(token: string, body: Readable, length: number | undefined): Promise<string>;
  /** What the browser page of a usable upload link shows; null when the link is unknown, used or expired. */
  uploadForm?(token: string): Promise<{ limitBytes: number; expiresAt: Date } | null>;
  /** The component's address, named on the pages ("go back to your chat with …"). */
  service?: string;
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
    if (url.pathname === "/healthz" && routes.health && (req.method === "GET" || req.method === "HEAD")) {
      const h = await routes.health();
      const body = `${JSON.stringify(h.report)}\n`;
      res.writeHead(h.ok ? 200 : 503, {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "cache-control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : body);
      return;
    }
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
    if (route === "upload" && (req.method === "GET" || req.method === "HEAD") && routes.uploadForm) {
      const info = await routes.uploadForm(token);
      html(
        res,
        info ? 200 : 404,
        info
          ? uploadFormPage({ ...info, service: routes.service ?? "this service" })
          : uploadFailedPage("This upload link is unknown, used or expired."),
        req.method === "HEAD",
      );
      return;
    }
    if (route === "upload" && (req.method === "PUT" || req.method === "POST") && routes.upload) {
      const boundary = formDataBoundary(req.headers["content-type"]);
      if (boundary === null) {
        const len = req.headers["content-length"] ? Number(req.headers["content-length"]) : undefined;
        const text = await routes.upload(token, req, len);
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        res.end(`${text}\n`);
        return;
      }
      // A browser's form: the same upload, answered with pages (the size limit counts the file only).
      try {
        await routes.upload(token, firstFilePart(req, boundary), undefined);
        html(res, 200, uploadDonePage({ service: routes.service ?? "this service" }));
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        html(res, err.status, uploadFailedPage(`The file was not accepted: ${err.message}.`));
      }
      return;
    }
    throw new HttpError(404, "not found");
  }

  function html(res: http.ServerResponse, status: number, body: string, headOnly = false): void {
    res.writeHead(status, {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    });
    res.end(headOnly ? undefined : body);
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
