// Reading a job's stored options back into a typed value. Options are stored as JSON by this code, so
// a mismatch means a job from another version (or a hand-edited row): it fails with a clear reason.
import { JobFailure } from "./runner.js";

export type RawOptions = Record<string, unknown>;

function bad(key: string): JobFailure {
  return new JobFailure(`this job's stored options are not usable (${key}); please run the command again`);
}

export function text(raw: RawOptions, key: string): string {
  const v = raw[key];
  if (typeof v !== "string") throw bad(key);
  return v;
}

export function optionalText(raw: RawOptions, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw bad(key);
  return v;
}

export function optionalNumber(raw: RawOptions, key: string): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(key);
  return v;
}

export function flag(raw: RawOptions, key: string, fallback = false): boolean {
  const v = raw[key];
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") throw bad(key);
  return v;
}

/** A list of strings, each one of `allowed` (unknown values are dropped: a newer version's sections). */
export function choices<T extends string>(raw: RawOptions, key: string, allowed: readonly T[]): T[] {
  const v = raw[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(key);
  return v.filter((x): x is T => typeof x === "string" && (allowed as readonly string[]).includes(x));
}
