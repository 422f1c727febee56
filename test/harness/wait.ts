// Waiting for a condition instead of a fixed sleep: probe until it holds, fail with the last value.

export interface UntilOptions {
  timeoutMs?: number;
  everyMs?: number;
  what?: string;
}

/** Calls `probe` until `done(value)` holds; resolves with that value, rejects after the timeout. */
export async function until<T>(
  probe: () => Promise<T> | T,
  done: (value: T) => boolean,
  o: UntilOptions = {},
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 15_000);
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${o.what ?? "a condition"}: last ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, o.everyMs ?? 50));
  }
}
