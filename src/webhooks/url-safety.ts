import { lookup as dnsLookup, promises as dnsPromises, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { badInput } from '../server/errors.ts';
import { MAX_URL_LENGTH } from './model.ts';

/**
 * Receiver URLs are safe by default: https only, no credentials, and no private, loopback, link-local or
 * otherwise non-public address, checked when the webhook is registered (literal addresses, `localhost`, and
 * the addresses its name resolves to then) and again at every delivery on the addresses the name resolves to (against DNS rebinding: the checked
 * address is the one connected to). WEBHOOK_ALLOW_PRIVATE=true lifts the address rules and also accepts
 * plain http (tests, local development).
 */

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP address is private, loopback, link-local, reserved or multicast (IPv4-mapped IPv6 included). */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[1]!, 'ipv4');
    if (/^::ffff:/i.test(address)) return true;
    // 6to4 (2002::/16) carries an IPv4 address in its next 32 bits: judged as that address.
    const sixToFour = /^2002:([0-9a-f]{1,4}):([0-9a-f]{1,4})(?::|$)/i.exec(expandIpv6(address));
    if (sixToFour) {
      const hi = parseInt(sixToFour[1]!, 16);
      const lo = parseInt(sixToFour[2]!, 16);
      return blocked.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, 'ipv4');
    }
    return blocked.check(address, 'ipv6');
  }
  return true;
}

/** An IPv6 address with every group written (`2002:7f00:1::` → `2002:7f00:0001:0:0:0:0:0`). */
function expandIpv6(address: string): string {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  if (tail === undefined) return left.join(':');
  const right = tail === '' ? [] : tail.split(':');
  return [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right].join(':');
}

/** The URL, parsed, or BAD_USER_INPUT naming the field and the rule. */
export function checkWebhookUrl(raw: string, allowPrivate: boolean, field = 'url'): URL {
  if (raw.length > MAX_URL_LENGTH) throw badInput(`${field}: at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badInput(`${field}: not an absolute URL`);
  }
  const protocols = allowPrivate ? ['https:', 'http:'] : ['https:'];
  if (!protocols.includes(url.protocol)) {
    throw badInput(`${field}: must be an https URL${allowPrivate ? ' (or http with WEBHOOK_ALLOW_PRIVATE)' : ''}`);
  }
  if (url.username || url.password) throw badInput(`${field}: must not contain credentials`);
  if (!allowPrivate) {
    const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
    if (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && isNonPublicAddress(host))) {
      throw badInput(`${field}: private, loopback and link-local addresses are not allowed (WEBHOOK_ALLOW_PRIVATE=true allows them)`);
    }
  }
  return url;
}

/**
 * At registration, a name that resolves to a non-public address now is refused at once (BAD_USER_INPUT), rather
 * than every delivery failing later; a name that does not resolve (yet) is accepted, and every delivery checks
 * again what it connects to (safeLookup).
 */
export async function checkResolvedHost(url: URL, allowPrivate: boolean, field = 'url'): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (allowPrivate || isIP(host) !== 0) return;
  const addresses = await dnsPromises.lookup(host, { all: true }).catch(() => [] as LookupAddress[]);
  const bad = addresses.find((a) => isNonPublicAddress(a.address));
  if (bad) throw badInput(`${field}: ${host} resolves to a non-public address (${bad.address}); WEBHOOK_ALLOW_PRIVATE=true allows it`);
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that resolves the name and refuses the connection when any address it
 * resolves to is non-public (unless allowed), so the address connected to is an address that was checked.
 */
export function safeLookup(allowPrivate: boolean) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const list = addresses as LookupAddress[];
      if (!allowPrivate) {
        const bad = list.find((a) => isNonPublicAddress(a.address));
        if (bad) {
          const refusal: NodeJS.ErrnoException = new Error(`${hostname} resolves to a non-public address (${bad.address})`);
          refusal.code = 'EADDRNOTPUBLIC';
          return callback(refusal, []);
        }
      }
      if (list.length === 0) return callback(Object.assign(new Error(`${hostname}: no address`), { code: 'ENOTFOUND' }), []);
      if (options.all) return callback(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}
