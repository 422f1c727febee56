// What the user is told about contacts' moves. When a provider closes, many contacts move within
// seconds: one chat message per batch, not one per contact, both for the person reading and for the
// server (each message is stored offline and archived).
import type { XmppLink } from "../xmpp/link.js";
import { sendChat } from "../xmpp/chat.js";

export type MoveOutcome = "applied" | "asked";

export interface MoveLine {
  /** How the user knows the contact: "Name (old@jid)" or the old JID. */
  label: string;
  newJid: string;
}

export function renderMoves(outcome: MoveOutcome, lines: MoveLine[]): string {
  const [one] = lines;
  if (lines.length === 1 && one) {
    return outcome === "applied"
      ? `Your contact ${one.label} moved to ${one.newJid}. I approved the new address, kept the name and groups, and removed the old address from your contacts.`
      : `${one.label} says they moved to ${one.newJid}, and their old account confirms it. Approve the subscription request from ${one.newJid} in your app to keep in touch.`;
  }
  const list = lines.map((l) => `\n- ${l.label} → ${l.newJid}`).join("");
  return outcome === "applied"
    ? `${lines.length} of your contacts moved. I approved their new addresses, kept names and groups, and removed the old addresses from your contacts:${list}`
    : `${lines.length} contacts say they moved, and their old accounts confirm it. Approve their subscription requests in your app to keep in touch:${list}`;
}

export interface MoveMessenger {
  add(user: string, outcome: MoveOutcome, line: MoveLine): void;
  /** Sends everything still waiting (on shutdown). */
  flush(): Promise<void>;
}

/** Collects lines per user and outcome; sends once nothing new came for `quietMs`, or at `maxLines`. */
export function createMoveMessenger(
  link: XmppLink,
  opts: { quietMs?: number; maxLines?: number; onError?: (err: unknown) => void } = {},
): MoveMessenger {
  const quietMs = opts.quietMs ?? 1000;
  const maxLines = opts.maxLines ?? 50;
  const waiting = new Map<
    string,
    { user: string; outcome: MoveOutcome; lines: MoveLine[]; timer: NodeJS.Timeout }
  >();

  async function send(key: string): Promise<void> {
    const batch = waiting.get(key);
    if (!batch) return;
    waiting.delete(key);
    clearTimeout(batch.timer);
    await sendChat(link, batch.user, renderMoves(batch.outcome, batch.lines)).catch((err: unknown) =>
      opts.onError?.(err),
    );
  }

  return {
    add(user, outcome, line) {
      const key = `${outcome} ${user}`;
      const batch = waiting.get(key);
      if (batch) {
        batch.lines.push(line);
        batch.timer.refresh();
        if (batch.lines.length >= maxLines) void send(key);
        return;
      }
      waiting.set(key, { user, outcome, lines: [line], timer: setTimeout(() => void send(key), quietMs) });
    },
    async flush() {
      await Promise.all([...waiting.keys()].map(send));
    },
  };
}
