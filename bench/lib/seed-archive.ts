// Writes Prosody's archive directly (internal list file, or SQLite rows): populating through c2s
// would dominate a run.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

/** The seeded conversation: n messages alternating between user and peer, one a second up to now. */
function* seedMessages(user: string, peer: string, n: number) {
  const t0 = Math.floor(Date.now() / 1000) - n;
  for (let i = 0; i < n; i++) {
    const out = i % 2 === 0;
    const [from, to] = out
      ? [`${user}@localhost/phone`, `${peer}@localhost`]
      : [`${peer}@localhost/pc`, `${user}@localhost`];
    yield {
      i,
      from,
      to,
      when: t0 + i,
      key: `k${i.toString(36).padStart(8, "0")}`,
      body: `benchmark message ${i}: the quick brown fox jumps over the lazy dog`,
    };
  }
}

export async function seedArchive(dataDir: string, user: string, peer: string, n: number): Promise<void> {
  const lines: string[] = [];
  for (const { i, from, to, when, key, body } of seedMessages(user, peer, n)) {
    const stamp = new Date(when * 1000).toISOString().replace(/\.\d+Z$/, "Z");
    lines.push(
      `item({{"${body}";["attr"]={};["name"]="body";};` +
        `["when"]=${when};["attr"]={["to"]="${to}";["from"]="${from}";["type"]="chat";["stamp"]="${stamp}";["id"]="b${i}";};` +
        `["name"]="message";["key"]="${key}";["with"]="${peer}@localhost";});`,
    );
  }
  const dir = path.join(dataDir, "localhost", "archive");
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${user}.list`), `${lines.join("\n")}\n`);
}

/** The same messages in Prosody's SQL archive (SQLite, tables already created by a first start). */
export async function seedSqlArchive(dbFile: string, user: string, peer: string, n: number): Promise<void> {
  const esc = (s: string) => s.replace(/'/g, "''");
  const lines: string[] = ["BEGIN;"];
  for (const { i, from, to, when, key, body } of seedMessages(user, peer, n)) {
    const xml =
      `<message xmlns='jabber:client' to='${to}' from='${from}' type='chat' id='b${i}'>` +
      `<body>${body}</body></message>`;
    lines.push(
      `INSERT INTO prosodyarchive (host, user, store, key, "when", "with", type, value) VALUES ('localhost', '${user}', 'archive', '${key}', ${when}, '${peer}@localhost', 'xml', '${esc(xml)}');`,
    );
  }
  lines.push("COMMIT;");
  const sql = path.join(path.dirname(dbFile), "seed.sql");
  await writeFile(sql, `${lines.join("\n")}\n`);
  await execFileP("sh", ["-c", `sqlite3 "${dbFile}" < "${sql}"`]);
}
