/** The optional allowlist of caller addresses (IPs and CIDRs, IPv4 and IPv6) for the REST API. */
import { BlockList, isIP } from 'node:net';

/** Answers whether an address may call; everyone may when the list is empty. */
export type IpAllowlist = (address: string) => boolean;

/** Parses `ALLOWED_IPS` entries; throws naming the first entry that is neither an IP nor a CIDR. */
export function createIpAllowlist(entries: readonly string[]): IpAllowlist {
  if (entries.length === 0) return () => true;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    const maxBits = family === 6 ? 128 : 32;
    if (family === 0 || (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= maxBits))) {
      throw new Error(`ALLOWED_IPS entry "${entry}" is not an IP address or CIDR`);
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, bits, type);
  }
  return (address) => {
    // Dual-stack sockets report IPv4 callers as IPv4-mapped IPv6 addresses.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    const plain = mapped?.[1] ?? address;
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
}
