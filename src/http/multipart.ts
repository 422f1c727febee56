// The file of a browser's multipart/form-data upload (RFC 7578), streamed: the first part that carries
// a filename is passed through chunk by chunk, never held whole; other fields are skipped.
import { Readable } from "node:stream";

export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

const MAX_HEADERS = 16 * 1024;

/** The boundary of a multipart/form-data content type, or null for any other type. */
export function formDataBoundary(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^";\s]{1,70}))/i.exec(contentType);
  return m?.[1] ?? m?.[2] ?? null;
}

/** The bytes of the first file part of `body`; fails with MultipartError when the form holds none. */
export function firstFilePart(body: AsyncIterable<Buffer>, boundary: string): Readable {
  return Readable.from(fileBytes(body, boundary), { objectMode: false });
}

async function* fileBytes(body: AsyncIterable<Buffer>, boundary: string): AsyncGenerator<Buffer> {
  // The first delimiter may start the body; later ones are preceded by CRLF.
  const first = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let buf: Buffer = Buffer.alloc(0);
  // After the file, the rest (other fields, epilogue) is read and dropped rather than left unread:
  // leaving the loop early would destroy the request before the answer is sent.
  let state: "preamble" | "headers" | "file" | "skip" | "done" | "none" = "preamble";
  for await (const chunk of body) {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (state === "done" || state === "none") {
        buf = Buffer.alloc(0);
        break;
      } else if (state === "preamble") {
        const at = buf.indexOf(first);
        if (at < 0) {
          buf = buf.subarray(Math.max(0, buf.length - first.length));
          break;
        }
        buf = buf.subarray(at + first.length);
        state = "headers";
      } else if (state === "headers") {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) {
          if (buf.length > MAX_HEADERS) throw new MultipartError("form part headers too large");
          break;
        }
        const head = buf.subarray(0, end).toString("utf8");
        if (head.startsWith("--")) {
          state = "none"; // closing delimiter: no file part
          continue;
        }
        buf = buf.subarray(end + 4);
        const disposition = /^content-disposition:(.*)$/im.exec(head)?.[1] ?? "";
        state = /;\s*filename\*?=/i.test(disposition) ? "file" : "skip";
      } else {
        const at = buf.indexOf(delimiter);
        if (at < 0) {
          // Keep a tail that might be the start of a delimiter split across chunks.
          const keep = Math.min(buf.length, delimiter.length - 1);
          if (state === "file" && buf.length > keep) yield buf.subarray(0, buf.length - keep);
          buf = buf.subarray(buf.length - keep);
          break;
        }
        if (state === "file") {
          if (at > 0) yield buf.subarray(0, at);
          state = "done";
          continue;
        }
        buf = buf.subarray(at + delimiter.length);
        state = "headers";
      }
    }
  }
  if (state === "done") return;
  throw new MultipartError(
    state === "file" ? "the upload was cut off" : "the form holds no file: choose one and try again",
  );
}
