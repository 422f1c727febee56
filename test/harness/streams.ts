// Streams in unit tests: run bytes through transforms and keep what comes out.
import { Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** Pipes `src` through `transforms` and returns everything that came out, as one buffer. */
export async function collect(src: Readable, ...transforms: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    src,
    ...(transforms as [NodeJS.ReadWriteStream]),
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}
