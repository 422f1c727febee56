// prosody-migrator as an independent XEP-0227 peer: the one belonging to the Prosody under test
// (PROSODY_MIGRATOR, else PROSODY_BIN_DIR/prosody-migrator; 0.12's cannot read 13's archive ids). The stock
// script needs workarounds (docs/server-facts.md, "Test harness"), applied to a private copy at test time (nothing outside the temp dir changes):
//   - its XEP-0227 files go to a hard-coded CFG_DATADIR: read it from MIGRATOR_DATA_DIR instead;
//   - xep0227 → internal aborts on users without an archive or PEP items (assert(iter) on a plain nil);
//   - 13.0.1 ignores --keep-going (its argument parser stores keep_going, the script reads keep-going).
// It runs with --root (as root it would switch to the prosody user, who cannot read our temp dirs).
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { PROSODY_MIGRATOR_BIN } from "./prosody.js";

const execFileP = promisify(execFile);

export const MIGRATOR_STORES = ["accounts", "roster", "vcard", "private", "pep-pubsub", "archive-archive"];

export interface Migrator {
  dir: string;
  /** Where XEP-0227 files (`user@host.xml`) are read and written. */
  xep0227Dir: string;
  /** Converts between an internal data dir (Prosody's data_path) and xep0227Dir. */
  run(
    direction: "internal-to-xep0227" | "xep0227-to-internal",
    internalDataPath: string,
    host: string,
    stores?: string[],
  ): Promise<string>;
}

export async function createMigrator(): Promise<Migrator> {
  const dir = await mkdtemp(path.join(tmpdir(), "portability-migrator-"));
  const xep0227Dir = path.join(dir, "xep0227");
  await import("node:fs/promises").then((fs) => fs.mkdir(xep0227Dir));
  const src = await readFile(PROSODY_MIGRATOR_BIN, "utf8");
  const patched = src
    .replace(/^CFG_DATADIR=.*$/m, "CFG_DATADIR=os.getenv('MIGRATOR_DATA_DIR') or '/var/lib/prosody';")
    .replace('if options["keep-going"] then', 'if options["keep-going"] or options.keep_going then')
    .replace(
      "\t\tlocal iter, err = origin:find(user);\n\t\tassert(iter, err);",
      "\t\tlocal iter, err = origin:find(user);\n\t\tif not iter and not err then return end\n\t\tassert(iter, err);",
    );
  if (
    !patched.includes("MIGRATOR_DATA_DIR") ||
    !patched.includes("if not iter and not err") ||
    !patched.includes("options.keep_going")
  ) {
    throw new Error("prosody-migrator changed: the test patches no longer apply");
  }
  const script = path.join(dir, "prosody-migrator-local");
  await writeFile(script, patched);
  return {
    dir,
    xep0227Dir,
    async run(direction, internalDataPath, host, storeList = MIGRATOR_STORES) {
      const stores = `{ ${storeList.map((s) => JSON.stringify(s)).join(", ")} }`;
      const cfg = path.join(dir, `migrator-${direction}.cfg.lua`);
      await writeFile(
        cfg,
        `internal { type = "internal"; path = ${JSON.stringify(internalDataPath)}; hosts = { [${JSON.stringify(host)}] = ${stores} } }\n` +
          `xep0227 { type = "xep0227"; hosts = { [${JSON.stringify(host)}] = ${stores} } }\n`,
      );
      const [from, to] =
        direction === "internal-to-xep0227" ? ["internal", "xep0227"] : ["xep0227", "internal"];
      const { stdout, stderr } = await execFileP(
        "lua5.4",
        [script, "--root", "--keep-going", `--config=${cfg}`, from, to],
        { env: { ...process.env, MIGRATOR_DATA_DIR: xep0227Dir }, maxBuffer: 64 * 1024 * 1024 },
      );
      return stdout + stderr;
    },
  };
}
