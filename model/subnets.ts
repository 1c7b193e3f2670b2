/**
 * IPv4 subnets in CIDR notation (ipaddr.js): what a pinned edge network may
 * use, and whether two of them overlap. Docker refuses to create a network
 * whose subnet overlaps another network's on the same host.
 */
import ipaddr from "ipaddr.js";

/** Room for the routed services, both revisions of each during a rollout, and Traefik; and no more than a /16. */
const PREFIX = { min: 16, max: 28 } as const;

/** Why `cidr` cannot be an edge subnet, or undefined when it can. */
export function edgeSubnetProblem(cidr: string): string | undefined {
  if (!ipaddr.IPv4.isValidCIDRFourPartDecimal(cidr)) return `"${cidr}" is not an IPv4 network in CIDR notation`;
  const [address, prefix] = ipaddr.IPv4.parseCIDR(cidr);
  if (prefix < PREFIX.min || prefix > PREFIX.max) return `/${prefix} is outside /${PREFIX.min} to /${PREFIX.max}`;
  const network = ipaddr.IPv4.networkAddressFromCIDR(cidr).toString();
  if (network !== address.toString()) return `host bits are set; the network is ${network}/${prefix}`;
  // Every allowed prefix is longer than the private blocks (/8, /12, /16), so a private network address means a private subnet.
  if (address.range() !== "private") return `${cidr} is not private (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)`;
  return undefined;
}

/** Two IPv4 CIDRs share an address. Anything that does not parse as one overlaps nothing. */
export function subnetsOverlap(a: string, b: string): boolean {
  if (!ipaddr.IPv4.isValidCIDR(a) || !ipaddr.IPv4.isValidCIDR(b)) return false;
  const [ipA, prefixA] = ipaddr.IPv4.parseCIDR(a);
  const [ipB, prefixB] = ipaddr.IPv4.parseCIDR(b);
  // Two aligned blocks overlap exactly when the larger one contains the smaller one's address.
  return prefixA <= prefixB ? ipB.match(ipA, prefixA) : ipA.match(ipB, prefixB);
}
