// A browser's multipart/form-data upload: the file part comes out byte for byte, whatever the chunking.
import t from "tap";
import { randomBytes } from "node:crypto";
import { firstFilePart, formDataBoundary, MultipartError } from "../../../src/http/multipart.js";

async function collect(r: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c);
  return Buffer.concat(parts);
}

function* chunks(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function* source(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (const c of chunks(buf, size)) yield c;
}

const B = "----WebKitFormBoundaryx8Yq3TnA1Zl0";

function form(file: Buffer, extra = true): Buffer {
  return Buffer.concat([
    Buffer.from(
      extra
        ? `--${B}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--${B}\r\n`
        : `--${B}\r\n`,
    ),
    Buffer.from(
      `Content-Disposition: form-data; name="archive"; filename="dora.xml.gz"\r\nContent-Type: application/gzip\r\n\r\n`,
    ),
    file,
    Buffer.from(`\r\n--${B}--\r\n`),
  ]);
}

t.test("boundary from the content type", async (t) => {
  t.equal(formDataBoundary(`multipart/form-data; boundary=${B}`), B);
  t.equal(formDataBoundary('multipart/form-data; boundary="a b"'), "a b");
  t.equal(formDataBoundary("application/octet-stream"), null);
  t.equal(formDataBoundary(undefined), null);
});

t.test("the file part, exact, for every chunk size (delimiters split across chunks)", async (t) => {
  // Bytes that look like parts of a delimiter must pass through untouched.
  const file = Buffer.concat([
    randomBytes(5000),
    Buffer.from(`\r\n--${B.slice(0, 10)}\r\n--`),
    randomBytes(3000),
  ]);
  for (const size of [1, 7, 64, 1000, 1 << 20]) {
    const out = await collect(firstFilePart(source(form(file), size), B));
    t.ok(out.equals(file), `chunks of ${size}`);
  }
  t.ok(
    (await collect(firstFilePart(source(form(file, false), 13), B))).equals(file),
    "file as the only field",
  );
});

t.test("no file, or a cut-off upload: a clear error", async (t) => {
  const noFile = Buffer.from(
    `--${B}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--${B}--\r\n`,
  );
  await t.rejects(
    collect(firstFilePart(source(noFile, 5), B)),
    new MultipartError("the form holds no file: choose one and try again"),
  );
  const cut = form(randomBytes(1000)).subarray(0, 600);
  await t.rejects(collect(firstFilePart(source(cut, 5), B)), new MultipartError("the upload was cut off"));
});
