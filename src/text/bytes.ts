// Sizes as people read them in chat texts and command notes.
const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

export function formatBytes(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(1)} GiB`;
  if (n >= MIB) return `${(n / MIB).toFixed(1)} MiB`;
  if (n >= KIB) return `${Math.ceil(n / KIB)} KiB`;
  return n === 1 ? "1 byte" : `${n} bytes`;
}
