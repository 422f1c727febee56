#!/usr/bin/env node
// Compiles src/ and migrations/ to dist/ (ESM JavaScript) with tsc -p tsconfig.build.json.
// `--if-stale` (what `npm start` runs first) builds only when dist/ is missing or older than a source
// file, so `npm ci && npm start` works on a fresh checkout and later starts cost nothing.
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const stamp = path.join(root, "dist", ".build-stamp");
const inputs = ["src", "migrations", "types", "tsconfig.json", "tsconfig.build.json", "package.json"];

function newestMtime(p) {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted file changes its directory's mtime
  for (const e of readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, e)));
  return newest;
}

function stale() {
  // A production install carries dist/ without sources: nothing to compare, nothing to build.
  if (!existsSync(path.join(root, "src"))) return false;
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  return inputs.some((i) => existsSync(path.join(root, i)) && newestMtime(path.join(root, i)) > built);
}

if (process.argv.includes("--if-stale") && !stale()) process.exit(0);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  process.stderr.write("build: typescript is not installed (a --omit=dev install needs a prebuilt dist/)\n");
  process.exit(1);
}
process.stderr.write("build: compiling to dist/\n");
// Start clean so a deleted source (a migration above all) leaves no compiled copy behind.
rmSync(path.join(root, "dist"), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], {
  stdio: "inherit",
  cwd: root,
});
if (r.status !== 0) process.exit(r.status ?? 1);
writeFileSync(stamp, `${new Date().toISOString()}\n`);
