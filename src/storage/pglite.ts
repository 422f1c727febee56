// The embedded database (PGlite: Postgres compiled to WebAssembly), opened lean. Its memory, as
// measured (bench/memory.ts; README "Running in production"): Postgres' shared buffers (128 MB by
// default, all touched at start-up), the compiled WebAssembly code, and on a first start initdb, whose
// memory a WebAssembly instance never gives back. Hence: small shared buffers, the baseline
// WebAssembly compiler only, and initdb in a short-lived child process.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import v8 from "node:v8";
import type { PGlite } from "@electric-sql/pglite";
import { lockDataDir } from "./data-dir-lock.js";

/** Postgres settings for a single-connection embedded database holding metadata only. */
export const PGLITE_SETTINGS = {
  shared_buffers: "8MB",
  max_connections: "5",
  // Archive bytes live in files when embedded (archive-files.ts); nothing large passes through here.
  work_mem: "2MB",
  maintenance_work_mem: "16MB",
};

export interface EmbeddedDatabase {
  pglite: PGlite;
  close(): Promise<void>;
}

let baselineCompiler = false;

/** Opens PGlite in `dataDir` (":memory:" for tests), locking the directory against a second process. */
export async function openPglite(dataDir: string): Promise<EmbeddedDatabase> {
  if (!baselineCompiler) {
    // Liftoff (V8's baseline WebAssembly compiler) only: TurboFan's optimised copy of Postgres' code
    // costs ~60 MB resident and measured no faster for this workload. Must precede compilation.
    v8.setFlagsFromString("--liftoff-only");
    baselineCompiler = true;
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const startParams = [...PGlite.defaultStartParams];
  for (const [k, v] of Object.entries(PGLITE_SETTINGS)) startParams.push("-c", `${k}=${v}`);
  if (dataDir === ":memory:") {
    const pglite = new PGlite({ startParams });
    await pglite.waitReady;
    let closing: Promise<void> | undefined;
    return { pglite, close: () => (closing ??= pglite.close()) };
  }
  const dir = path.join(dataDir, "pglite");
  await mkdir(dir, { recursive: true });
  const lock = await lockDataDir(dataDir);
  try {
    if (!existsSync(path.join(dir, "PG_VERSION"))) await initInChild(dir);
    const pglite = new PGlite(dir, { startParams });
    await pglite.waitReady;
    let closing: Promise<void> | undefined;
    const close = async (): Promise<void> => {
      try {
        if (!pglite.closed) await pglite.close();
      } finally {
        await lock.release();
      }
    };
    // Idempotent: Kysely closes the driver on destroy only if a query ran, so callers close too.
    return { pglite, close: () => (closing ??= close()) };
  } catch (err) {
    await lock.release();
    throw err;
  }
}

/** initdb peaks at several hundred MB that would stay resident for the process' life: spend it elsewhere. */
async function initInChild(dir: string): Promise<void> {
  const url = import.meta.resolve("@electric-sql/pglite");
  const code =
    `const { PGlite } = await import(${JSON.stringify(url)});` +
    `const p = new PGlite(process.argv[1]); await p.waitReady; await p.close();`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code, dir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr = (stderr + s).slice(-2000)));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (c) => resolve(c));
  });
  if (exitCode !== 0) throw new Error(`creating the embedded database in ${dir} failed: ${stderr.trim()}`);
}
