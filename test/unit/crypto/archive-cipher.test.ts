import t from "tap";
import { collect } from "../../harness/streams.js";
import { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import {
  encryptStream,
  decryptStream,
  isEncryptedArchive,
  ArchiveCipherError,
} from "../../../src/crypto/archive-cipher.js";

const FAST = { log2n: 10 };

function chunks(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

t.test("round trip across frame boundaries, any chunking", async (t) => {
  for (const len of [0, 1, 65536, 65537, 300_000]) {
    const plain = randomBytes(len);
    const enc = await collect(chunks(plain, 7000), encryptStream("correct horse", FAST));
    t.ok(isEncryptedArchive(enc), "header present");
    t.notOk(enc.includes(plain.subarray(0, 64)) && len > 64, "ciphertext differs");
    const dec = await collect(chunks(enc, 1234), decryptStream("correct horse"));
    t.ok(dec.equals(plain), `len ${len}`);
  }
});

t.test("wrong passphrase, truncation, tampering and non-encrypted input fail clearly", async (t) => {
  const plain = randomBytes(200_000);
  const enc = await collect(Readable.from([plain]), encryptStream("pw1", FAST));
  await t.rejects(collect(Readable.from([enc]), decryptStream("pw2")), { message: /wrong passphrase/ });
  const lastFrameStart = enc.length - (200_000 - 3 * 65536) - 16 - 5;
  await t.rejects(collect(Readable.from([enc.subarray(0, lastFrameStart)]), decryptStream("pw1")), {
    message: /truncated/,
  });
  const tampered = Buffer.from(enc);
  tampered.writeUInt8(tampered.readUInt8(tampered.length - 100) ^ 1, tampered.length - 100);
  await t.rejects(collect(Readable.from([tampered]), decryptStream("pw1")), ArchiveCipherError);
  await t.rejects(
    collect(Readable.from([Buffer.from("<server-data xmlns='urn:xmpp:pie:0'/>")]), decryptStream("pw1")),
    {
      message: /not an encrypted archive/,
    },
  );
  t.throws(() => encryptStream(""), ArchiveCipherError);
});
