// How long a client login takes (TCP connect, stream, PLAIN, bind): what a stalled Prosody delays first.
import { connectClient } from "./clients.js";
import type { Prosody } from "./prosody.js";

/** Milliseconds to log in, or the time until the client gave up (`failed`, its connect timeout). */
export async function timeLogin(
  prosody: Prosody,
  user: string,
  host: string,
  password: string,
): Promise<{ ms: number; failed: boolean }> {
  const t0 = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - t0) / 1e6;
  try {
    const c = await connectClient(
      prosody,
      user,
      host,
      password,
      `lat${Math.random().toString(36).slice(2, 8)}`,
      {
        available: false,
      },
    );
    const ms = elapsed();
    await c.stop();
    return { ms, failed: false };
  } catch {
    return { ms: elapsed(), failed: true };
  }
}

/** Logins one after another for `durationMs` (at least one): their times in ms, and how many failed. */
export async function loginsFor(
  prosody: Prosody,
  user: string,
  host: string,
  password: string,
  durationMs: number,
  pauseMs = 100,
): Promise<{ times: number[]; failed: number }> {
  const end = Date.now() + durationMs;
  const times: number[] = [];
  let failed = 0;
  do {
    const r = await timeLogin(prosody, user, host, password);
    times.push(r.ms);
    if (r.failed) failed++;
    await new Promise((r) => setTimeout(r, pauseMs));
  } while (Date.now() < end);
  return { times, failed };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
