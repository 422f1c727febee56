// One account's records out of a file that may hold several (ejabberd writes a whole host per file).
import type { ArchiveRecord } from "./records.js";

export class AccountNotInArchive extends Error {
  constructor(readonly account: string) {
    super(`the archive holds no account ${account}`);
    this.name = "AccountNotInArchive";
  }
}

/**
 * The records of `account` (name@host, any case), from its `user` record through its `user-end`; with
 * no account given, the first one. Reading stops after that account. Throws AccountNotInArchive when
 * the file ends without it.
 */
export async function* selectAccount(
  records: AsyncIterable<ArchiveRecord>,
  account?: string,
): AsyncGenerator<ArchiveRecord> {
  const wanted = account?.toLowerCase();
  let inside = false;
  for await (const r of records) {
    if (!inside && r.kind === "user") {
      inside = wanted === undefined || `${r.name}@${r.host}`.toLowerCase() === wanted;
    }
    if (!inside) continue;
    yield r;
    if (r.kind === "user-end") return;
  }
  if (wanted !== undefined) throw new AccountNotInArchive(wanted);
}
