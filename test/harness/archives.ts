// XEP-0227 files built with the component's own writer, for upload tests and benchmarks.
import { PassThrough } from "node:stream";
import { gzipSync } from "node:zlib";
import xml from "@xmpp/xml";
import { createArchiveWriter, type ArchiveWriter } from "../../src/xep0227/writer.js";

export async function archiveText(build: (w: ArchiveWriter) => Promise<void>): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  await build(createArchiveWriter(out));
  out.end();
  return Buffer.concat(chunks).toString("utf8");
}

/** A gzipped archive of `user@host` with `n` chat messages of about `bodyBytes` each with `peer`. */
export async function messageArchive(
  user: string,
  host: string,
  peer: string,
  n: number,
  bodyBytes = 80,
): Promise<Uint8Array> {
  const filler = "the quick brown fox jumps over the lazy dog ".repeat(Math.ceil(bodyBytes / 44));
  const t0 = Date.UTC(2020, 0, 1);
  const text = await archiveText(async (w) => {
    await w.begin(host, user);
    for (let i = 0; i < n; i++) {
      const out = i % 2 === 0;
      await w.archiveMessage({
        id: `imp${i}`,
        stamp: new Date(t0 + i * 1000).toISOString(),
        message: xml(
          "message",
          {
            xmlns: "jabber:client",
            from: out ? `${user}@${host}/phone` : `${peer}/pc`,
            to: out ? peer : `${user}@${host}`,
            type: "chat",
          },
          xml("body", {}, `${i}: ${filler.slice(0, bodyBytes)}`),
        ),
      });
    }
    await w.end();
  });
  return gzipSync(text);
}
