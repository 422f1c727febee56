// `npm run bench`: every benchmark, one after another.
import { execFileSync } from "node:child_process";

for (const script of [
  "bench/codec.ts",
  "bench/export.ts",
  "bench/moved.ts",
  "bench/import.ts",
  "bench/hostile-uploads.ts",
  "bench/import-login-latency.ts",
  "bench/memory.ts",
  "bench/exodus.ts",
]) {
  console.log(`\n## ${script}\n`);
  execFileSync(process.execPath, ["--import", "tsx", script, ...process.argv.slice(2)], { stdio: "inherit" });
}
