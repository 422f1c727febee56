// Archive bytes as files under DATA_DIR/archives, for the embedded database: staged archives are
// streamed to and from disk, so their size never reaches PGlite's WebAssembly memory (which does not
// shrink once grown). Metadata stays in the database. A file is written as ID.partial, synced, and
// renamed to ID when complete, so a reader never sees half a file.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Writable, type Readable } from "node:stream";
import type { ArchiveWriteStats } from "./archives.js";

const PARTIAL = ".partial";
const ID = /^[0-9a-f-]{36}$/;

export interface ArchiveFiles {
  readonly dir: string;
  path(id: string): string;
  writer(id: string, chunkSize: number): Writable & { stats(): ArchiveWriteStats };
  reader(id: string, chunkSize: number): Readable;
  remove(id: string): Promise<void>;
  /** Archive ids that have a file (complete or partial). */
  list(): Promise<Set<string>>;
}

export function archiveFiles(dir: string): ArchiveFiles {
  const file = (id: string): string => {
    if (!ID.test(id)) throw new Error(`not an archive id: ${id}`);
    return path.join(dir, id);
  };
  return {
    dir,
    path: file,
    writer(id, chunkSize) {
      const target = file(id);
      const partial = target + PARTIAL;
      const hash = createHash("sha256");
      let handle: FileHandle | undefined;
      let bytes = 0;
      const w = new Writable({
        highWaterMark: chunkSize,
        construct(cb) {
          mkdir(dir, { recursive: true })
            .then(() => open(partial, "w"))
            .then((h) => {
              handle = h;
              cb();
            }, cb);
        },
        write(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          bytes += chunk.length;
          writeAll(handle, chunk).then(() => cb(), cb);
        },
        final(cb) {
          const h = handle;
          handle = undefined;
          (async () => {
            await h?.sync();
            await h?.close();
            await rename(partial, target);
          })().then(() => cb(), cb);
        },
        destroy(err, cb) {
          const h = handle;
          handle = undefined;
          void (async () => {
            await h?.close().catch(() => undefined);
            await rm(partial, { force: true }).catch(() => undefined);
          })().then(() => cb(err));
        },
      });
      let digest: string | undefined;
      return Object.assign(w, {
        stats(): ArchiveWriteStats {
          digest ??= hash.digest("hex");
          return { bytes, sha256: digest, chunks: Math.ceil(bytes / chunkSize) };
        },
      });
    },
    reader(id, chunkSize) {
      return createReadStream(file(id), { highWaterMark: chunkSize });
    },
    async remove(id) {
      const f = file(id);
      await rm(f, { force: true });
      await rm(f + PARTIAL, { force: true });
    },
    async list() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if (err instanceof Error && "code" in err && err.code === "ENOENT") return new Set();
        throw err;
      }
      return new Set(
        names.map((n) => (n.endsWith(PARTIAL) ? n.slice(0, -PARTIAL.length) : n)).filter((n) => ID.test(n)),
      );
    },
  };
}

async function writeAll(handle: FileHandle | undefined, chunk: Buffer): Promise<void> {
  if (!handle) throw new Error("archive file is closed");
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}
