// `portability archive inspect|validate|decrypt`: offline tools over archive files (.xml, .gz, encrypted).
import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createInterface } from "node:readline";
import type { Writable } from "node:stream";
import { readArchive } from "../xep0227/reader.js";
import { createSummary } from "../xep0227/summary.js";
import { EncryptedArchiveError, openArchiveFile } from "../xep0227/input.js";
import { ArchiveFormatError } from "../xep0227/records.js";
import { decryptStream, ArchiveCipherError } from "../crypto/archive-cipher.js";

interface Out {
  stdout: Writable;
  stderr: Writable;
}

async function passphraseFromStdin(out: Out): Promise<string> {
  const env = process.env.PORTABILITY_PASSPHRASE;
  if (env) return env;
  out.stderr.write("passphrase: ");
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return "";
}

export async function runArchiveCommand(argv: string[], out: Out): Promise<number> {
  const [sub, file, ...rest] = argv;
  const json = rest.includes("--json");
  if (!file || !["inspect", "validate", "decrypt"].includes(sub ?? "")) {
    out.stderr.write(
      "usage: portability archive inspect FILE [--json] | validate FILE | decrypt FILE --out OUT\n",
    );
    return 2;
  }
  if (sub === "decrypt") {
    const target = rest[rest.indexOf("--out") + 1];
    if (!rest.includes("--out") || !target) {
      out.stderr.write("decrypt needs --out OUT\n");
      return 2;
    }
    try {
      await pipeline(
        createReadStream(file),
        decryptStream(await passphraseFromStdin(out)),
        createWriteStream(target),
      );
      out.stdout.write(`decrypted to ${target}\n`);
      return 0;
    } catch (err) {
      out.stderr.write(`${err instanceof ArchiveCipherError ? err.message : (err as Error).message}\n`);
      return 1;
    }
  }
  const summary = createSummary();
  try {
    const input = await openArchiveFile(file, process.env.PORTABILITY_PASSPHRASE);
    for await (const r of readArchive(input)) summary.add(r);
  } catch (err) {
    const msg =
      err instanceof ArchiveFormatError ||
      err instanceof EncryptedArchiveError ||
      err instanceof ArchiveCipherError
        ? err.message
        : `cannot read ${file}: ${(err as Error).message}`;
    if (json) out.stdout.write(`${JSON.stringify({ valid: false, errors: [msg] })}\n`);
    else out.stderr.write(`invalid: ${msg}\n`);
    return 1;
  }
  const s = summary.result();
  if (sub === "validate") {
    if (s.users.length === 0) {
      out.stderr.write("invalid: the archive contains no account\n");
      return 1;
    }
    out.stdout.write(json ? `${JSON.stringify({ valid: true, warnings: s.warnings })}\n` : "valid\n");
    for (const w of json ? [] : s.warnings) out.stdout.write(`warning: ${w}\n`);
    return 0;
  }
  if (json) {
    out.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return 0;
  }
  out.stdout.write(`hosts: ${s.hosts.join(", ") || "-"}\nusers: ${s.users.join(", ") || "-"}\n`);
  for (const [k, v] of Object.entries(s.counts)) out.stdout.write(`${k}: ${v}\n`);
  if (s.archiveRange) out.stdout.write(`messages from ${s.archiveRange.first} to ${s.archiveRange.last}\n`);
  for (const w of s.warnings) out.stdout.write(`warning: ${w}\n`);
  return 0;
}
