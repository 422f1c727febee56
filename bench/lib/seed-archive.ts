// Writes Prosody's internal archive list file directly: populating through c2s would dominate a run.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

export async function seedArchive(dataDir: string, user: string, peer: string, n: number): Promise<void> {
  const lines: string[] = [];
  const t0 = Math.floor(Date.now() / 1000) - n;
  for (let i = 0; i < n; i++) {
    const out = i % 2 === 0;
    const [from, to] = out
      ? [`${user}@localhost/phone`, `${peer}@localhost`]
      : [`${peer}@localhost/pc`, `${user}@localhost`];
    const when = t0 + i;
    const stamp = new Date(when * 1000).toISOString().replace(/\.\d+Z$/, "Z");
    lines.push(
      `item({{"benchmark message ${i}: the quick brown fox jumps over the lazy dog";["attr"]={};["name"]="body";};` +
        `["when"]=${when};["attr"]={["to"]="${to}";["from"]="${from}";["type"]="chat";["stamp"]="${stamp}";["id"]="b${i}";};` +
        `["name"]="message";["key"]="k${i.toString(36).padStart(8, "0")}";["with"]="${peer}@localhost";});`,
    );
  }
  const dir = path.join(dataDir, "localhost", "archive");
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${user}.list`), `${lines.join("\n")}\n`);
}
