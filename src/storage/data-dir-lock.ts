// One process per embedded database directory. PGlite takes no lock of its own, and two processes
// writing one Postgres data directory corrupt it. The lock is a Unix socket in DATA_DIR that the
// holder listens on: the kernel drops it when the process dies however it dies (no stale pid file
// to clean up after a crash), and it also works across containers sharing the volume.
import { connect, createServer, type Server } from "node:net";
import { unlink } from "node:fs/promises";
import path from "node:path";

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string) {
    super(
      `the embedded database in ${dataDir} is in use by another running portability process ` +
        `(the service, or a \`db migrate\`): stop it first, or give this one its own DATA_DIR`,
    );
    this.name = "DataDirLockedError";
  }
}

export interface DataDirLock {
  release(): Promise<void>;
}

export const LOCK_NAME = "portability.lock";

/** Takes the directory's lock or throws DataDirLockedError. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const socketPath = shortPath(path.join(dataDir, LOCK_NAME));
  let server: Server;
  try {
    server = await listen(socketPath);
  } catch (err) {
    if (!isCode(err, "EADDRINUSE")) throw lockError(err, dataDir);
    if (await answers(socketPath)) throw new DataDirLockedError(dataDir);
    // Left behind by a process that died: nobody listens, take it over.
    await unlink(socketPath).catch(() => undefined);
    try {
      server = await listen(socketPath);
    } catch (again) {
      if (isCode(again, "EADDRINUSE")) throw new DataDirLockedError(dataDir);
      throw lockError(again, dataDir);
    }
  }
  server.unref(); // the lock must not keep the process alive
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function listen(socketPath: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Connections only prove liveness; close them at once.
    const server = createServer((c) => c.destroy());
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socketPath);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

/** Socket paths are limited to ~107 bytes: use the relative path when it is shorter. */
function shortPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel.length < p.length ? `./${rel}` : p;
}

function isCode(err: unknown, code: string): boolean {
  return err instanceof Error && "code" in err && err.code === code;
}

function lockError(err: unknown, dataDir: string): Error {
  return new Error(
    `cannot lock the embedded database in ${dataDir}: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}
