// Passphrase encryption for exported archives, streaming (an archive never sits in memory).
//
// Format "XAPENC1" (documented in README):
//   header  = "XAPENC1\n" | salt (16) | log2N (1) | r (1) | p (1) | noncePrefix (4)
//   frame   = flag (1: 0 more, 1 final) | length (u32 BE, ciphertext incl. 16-byte tag) | ciphertext
//   key     = scrypt(passphrase, salt, 32, N, r, p); cipher AES-256-GCM
//   nonce_i = noncePrefix | u64 BE frame counter i
//   aad_i   = header | flag
// The final flag is authenticated, so dropping trailing frames (truncation) or reordering is detected.
//
// Re-using one key (same salt) for several archives is safe when no (key, nonce) pair repeats: the
// writer picks noncePrefix, so scheduled exports keep the derived key with a counter and give each
// archive the next prefix (NIST SP 800-38D's deterministic construction: fixed field = prefix,
// invocation field = frame counter). Random prefixes would not do: 32 random bits collide too soon.
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

const MAGIC = Buffer.from("XAPENC1\n", "latin1");
const HEADER_LEN = MAGIC.length + 16 + 3 + 4;
const FRAME_PLAIN = 64 * 1024;
const TAG = 16;
const DEFAULT_LOG2N = 15;

export class ArchiveCipherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArchiveCipherError";
  }
}

export function isEncryptedArchive(firstBytes: Buffer): boolean {
  return firstBytes.length >= MAGIC.length && firstBytes.subarray(0, MAGIC.length).equals(MAGIC);
}

function deriveKey(passphrase: string, salt: Buffer, log2n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const N = 2 ** log2n;
    scrypt(
      passphrase.normalize("NFC"),
      salt,
      32,
      { N, r, p, maxmem: 256 * N * r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

function nonce(prefix: Buffer, counter: bigint): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeBigUInt64BE(counter, 4);
  return n;
}

/** What the format needs to encrypt again without the passphrase (scheduled exports). */
export interface ArchiveKey {
  salt: Buffer;
  log2n: number;
  r: number;
  p: number;
  key: Buffer;
}

export async function deriveArchiveKey(
  passphrase: string,
  opts: { log2n?: number } = {},
): Promise<ArchiveKey> {
  if (passphrase.length === 0) throw new ArchiveCipherError("empty passphrase");
  const log2n = opts.log2n ?? DEFAULT_LOG2N;
  const salt = randomBytes(16);
  return { salt, log2n, r: 8, p: 1, key: await deriveKey(passphrase, salt, log2n, 8, 1) };
}

/** Largest nonce prefix: a key may encrypt at most this many archives. */
export const MAX_NONCE_PREFIX = 0xffff_ffff;

/**
 * Encrypts with a kept key. `prefix` must never repeat under this key: callers take it from a
 * counter stored with the key (1, 2, …), never from randomness.
 */
export function encryptStreamWithKey(k: ArchiveKey, prefix: number): Transform {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > MAX_NONCE_PREFIX) {
    throw new ArchiveCipherError("nonce prefix out of range: this key has encrypted its last archive");
  }
  const p = Buffer.alloc(4);
  p.writeUInt32BE(prefix);
  return framedEncryptor(k.salt, k.log2n, k.r, k.p, p, Promise.resolve(k.key));
}

/** Encrypting Transform. `log2n` is lowered only in tests. */
export function encryptStream(passphrase: string, opts: { log2n?: number } = {}): Transform {
  if (passphrase.length === 0) throw new ArchiveCipherError("empty passphrase");
  const log2n = opts.log2n ?? DEFAULT_LOG2N;
  const salt = randomBytes(16);
  // A fresh salt gives a fresh key, so a random prefix cannot meet an earlier archive's nonces.
  return framedEncryptor(salt, log2n, 8, 1, randomBytes(4), deriveKey(passphrase, salt, log2n, 8, 1));
}

function framedEncryptor(
  salt: Buffer,
  log2n: number,
  r: number,
  p: number,
  prefix: Buffer,
  keyP: Promise<Buffer>,
): Transform {
  const header = Buffer.concat([MAGIC, salt, Buffer.from([log2n, r, p]), prefix]);
  let counter = 0n;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let started = false;

  const frame = (key: Buffer, plain: Buffer, final: boolean): Buffer => {
    const flag = Buffer.from([final ? 1 : 0]);
    const c = createCipheriv("aes-256-gcm", key, nonce(prefix, counter++));
    c.setAAD(Buffer.concat([header, flag]));
    const body = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    return Buffer.concat([flag, len, body]);
  };

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      keyP.then(
        (key) => {
          if (!started) {
            this.push(header);
            started = true;
          }
          pending.push(chunk);
          pendingLen += chunk.length;
          while (pendingLen > FRAME_PLAIN) {
            const all = Buffer.concat(pending);
            this.push(frame(key, all.subarray(0, FRAME_PLAIN), false));
            pending = [all.subarray(FRAME_PLAIN)];
            pendingLen = all.length - FRAME_PLAIN;
          }
          cb();
        },
        (err: Error) => cb(err),
      );
    },
    flush(cb: TransformCallback) {
      keyP.then(
        (key) => {
          if (!started) this.push(header);
          this.push(frame(key, Buffer.concat(pending), true));
          cb();
        },
        (err: Error) => cb(err),
      );
    },
  });
}

export function decryptStream(passphrase: string): Transform {
  let buf: Buffer = Buffer.alloc(0);
  let header: Buffer | null = null;
  let key: Buffer | null = null;
  let prefix = Buffer.alloc(4);
  let counter = 0n;
  let done = false;

  const wrongPass = (): ArchiveCipherError =>
    new ArchiveCipherError("cannot decrypt: wrong passphrase or damaged file");

  async function drain(t: Transform): Promise<void> {
    if (!header) {
      if (buf.length < HEADER_LEN) return;
      const h = buf.subarray(0, HEADER_LEN);
      if (!isEncryptedArchive(h))
        throw new ArchiveCipherError("not an encrypted archive (XAPENC1 header missing)");
      const log2n = h[MAGIC.length + 16] ?? 0;
      const r = h[MAGIC.length + 17] ?? 0;
      const p = h[MAGIC.length + 18] ?? 0;
      if (log2n < 10 || log2n > 20 || r < 1 || r > 32 || p < 1 || p > 16) {
        throw new ArchiveCipherError("unsupported key-derivation parameters");
      }
      header = Buffer.from(h);
      prefix = Buffer.from(h.subarray(MAGIC.length + 19));
      key = await deriveKey(passphrase, h.subarray(MAGIC.length, MAGIC.length + 16), log2n, r, p);
      buf = buf.subarray(HEADER_LEN);
    }
    while (buf.length >= 5) {
      if (done) throw new ArchiveCipherError("data after the final frame");
      const flag = buf[0] ?? 0;
      const len = buf.readUInt32BE(1);
      if (len < TAG || len > FRAME_PLAIN + TAG || flag > 1) throw wrongPass();
      if (buf.length < 5 + len) return;
      const body = buf.subarray(5, 5 + len);
      const d = createDecipheriv("aes-256-gcm", key as Buffer, nonce(prefix, counter++));
      d.setAAD(Buffer.concat([header, Buffer.from([flag])]));
      d.setAuthTag(body.subarray(len - TAG));
      let plain: Buffer;
      try {
        plain = Buffer.concat([d.update(body.subarray(0, len - TAG)), d.final()]);
      } catch {
        throw wrongPass();
      }
      t.push(plain);
      buf = buf.subarray(5 + len);
      if (flag === 1) done = true;
    }
  }

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      drain(this).then(
        () => cb(),
        (err: Error) => cb(err),
      );
    },
    flush(cb: TransformCallback) {
      drain(this).then(
        () => cb(done && buf.length === 0 ? null : new ArchiveCipherError("encrypted archive is truncated")),
        (err: Error) => cb(err),
      );
    },
  });
}
