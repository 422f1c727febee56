// Is an IP address on the public internet? Everything the operator's own network could answer on is
// not: loopback, private (RFC 1918), carrier-grade NAT, link-local, unique-local, multicast, reserved,
// unspecified, documentation ranges. IPv4-mapped IPv6 addresses are judged by their IPv4 part.
import { BlockList, isIP } from "node:net";

const blocked = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  blocked.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
] as const)
  blocked.addSubnet(net, prefix, "ipv6");

export function isPublicAddress(address: string): boolean {
  const a = address.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped?.[1]) return isPublicAddress(mapped[1]);
  // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
  const nat64 = /^64:ff9b::(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (nat64?.[1]) return isPublicAddress(nat64[1]);
  const family = isIP(a);
  if (family === 4) return !blocked.check(a, "ipv4");
  if (family === 6) {
    // Hex-written mapped / NAT64 forms (e.g. ::ffff:7f00:1) are refused outright.
    if (/^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(a) || a.startsWith("64:ff9b::")) return false;
    return !blocked.check(a, "ipv6");
  }
  return false;
}
