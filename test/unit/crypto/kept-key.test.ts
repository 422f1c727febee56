// Scheduled exports re-use one derived key: each archive must get its own nonce prefix, and every
// archive must still open with the passphrase alone (the ordinary decryptor).
import t from "tap";
import { collect } from "../../harness/streams.js";
import { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import {
  ArchiveCipherError,
  decryptStream,
  deriveArchiveKey,
  encryptStreamWithKey,
  MAX_NONCE_PREFIX,
} from "../../../src/crypto/archive-cipher.js";

/** `src` through the transforms, collected. */
const run = (src: Buffer, ...transforms: NodeJS.ReadWriteStream[]): Promise<Buffer> =>
  collect(Readable.from([src]), ...transforms);

t.test("archives under one kept key open with the passphrase and never share a nonce prefix", async (t) => {
  const key = await deriveArchiveKey("weekly secret", { log2n: 10 });
  const plain = randomBytes(150_000);
  const a = await run(plain, encryptStreamWithKey(key, 1));
  const b = await run(plain, encryptStreamWithKey(key, 2));
  const prefixOf = (enc: Buffer) => enc.subarray(8 + 16 + 3, 8 + 16 + 3 + 4).toString("hex");
  t.equal(prefixOf(a), "00000001");
  t.equal(prefixOf(b), "00000002");
  t.not(
    a.subarray(31, 95).toString("hex"),
    b.subarray(31, 95).toString("hex"),
    "same text, different ciphertext",
  );
  t.same(await run(a, decryptStream("weekly secret")), plain);
  t.same(await run(b, decryptStream("weekly secret")), plain);
  await t.rejects(run(a, decryptStream("wrong")), ArchiveCipherError);
});

t.test("a prefix outside 32 bits is refused", async (t) => {
  const key = await deriveArchiveKey("x", { log2n: 10 });
  t.throws(() => encryptStreamWithKey(key, MAX_NONCE_PREFIX + 1), ArchiveCipherError);
  t.throws(() => encryptStreamWithKey(key, -1), ArchiveCipherError);
  await t.rejects(deriveArchiveKey(""), ArchiveCipherError);
});
