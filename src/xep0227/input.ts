// Turns stored or uploaded bytes into XML text: transparently decrypts (XAPENC1) and gunzips
// (by magic bytes, so file names do not matter), streaming.
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { decryptStream, isEncryptedArchive } from "../crypto/archive-cipher.js";

export class EncryptedArchiveError extends Error {
  constructor() {
    super("the archive is encrypted: a passphrase is needed");
    this.name = "EncryptedArchiveError";
  }
}

async function sniff(src: AsyncIterable<Buffer>): Promise<{ head: Buffer; stream: Readable }> {
  const it = src[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < 16) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    parts.push(b);
    len += b.length;
  }
  const head = Buffer.concat(parts);
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    }
  }
  return { head, stream: Readable.from(rest(), { objectMode: false }) };
}

function isGzip(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** Plain XML bytes from a possibly encrypted and/or gzipped source. */
export async function openArchiveBytes(
  source: AsyncIterable<Buffer>,
  passphrase?: string,
): Promise<Readable> {
  let { head, stream } = await sniff(source);
  if (isEncryptedArchive(head)) {
    if (!passphrase) {
      stream.destroy();
      throw new EncryptedArchiveError();
    }
    const decrypted = stream.pipe(decryptStream(passphrase));
    stream.on("error", (e) => decrypted.destroy(e));
    ({ head, stream } = await sniff(decrypted));
  }
  if (isGzip(head)) {
    const gunzip = createGunzip();
    stream.on("error", (e) => gunzip.destroy(e));
    return stream.pipe(gunzip);
  }
  return stream;
}

export function openArchiveFile(path: string, passphrase?: string): Promise<Readable> {
  return openArchiveBytes(createReadStream(path), passphrase);
}
