// XEP-0227 files with a message history of any size, written as a stream (tests and bench:import).
import { createWriteStream } from "node:fs";
import { once } from "node:events";

export interface HistoryOptions {
  /** Account in the file (local part, host). */
  user: string;
  host: string;
  /** The other party of every message (bare JID). */
  peer: string;
  messages: number;
  /** Message i's time (seconds since the epoch). Default: one minute apart from 2021-01-01. */
  when?: (i: number) => number;
  /** The order the messages are written in (a permutation of 0…messages-1). Default: i. */
  order?: (k: number) => number;
}

const T0 = Date.UTC(2021, 0, 1) / 1000;

export function historyStamp(when: number): string {
  return new Date(when * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

/** The file in chunks of about 64 KiB. */
export function* historyArchive(o: HistoryOptions): Generator<string> {
  const when = o.when ?? ((i: number) => T0 + i * 60);
  const order = o.order ?? ((k: number) => k);
  const me = `${o.user}@${o.host}`;
  yield `<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'><host jid='${o.host}'><user name='${o.user}'><archive xmlns='urn:xmpp:pie:0#mam'>\n`;
  let chunk = "";
  for (let k = 0; k < o.messages; k++) {
    const i = order(k);
    const [from, to] = i % 2 === 0 ? [`${me}/laptop`, o.peer] : [`${o.peer}/phone`, me];
    chunk +=
      `<result xmlns='urn:xmpp:mam:2' id='h${i}'><forwarded xmlns='urn:xmpp:forward:0'>` +
      `<delay xmlns='urn:xmpp:delay' stamp='${historyStamp(when(i))}'/>` +
      `<message xmlns='jabber:client' from='${from}' to='${to}' type='chat' id='m${i}'>` +
      `<body>history message ${i}: the quick brown fox jumps over the lazy dog</body></message>` +
      `</forwarded></result>\n`;
    if (chunk.length > 65536) {
      yield chunk;
      chunk = "";
    }
  }
  yield `${chunk}</archive></user></host></server-data>\n`;
}

export async function writeHistoryArchive(file: string, o: HistoryOptions): Promise<void> {
  const out = createWriteStream(file);
  for (const chunk of historyArchive(o)) {
    if (!out.write(chunk)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
}
