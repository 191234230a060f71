/**
 * Whether the kernel serves IPv6 in this network namespace: the one file read kproxy needs for it, behind
 * a seam a test can replace.
 *
 * @module
 */
import { readFile as fsReadFile } from 'node:fs/promises';

/** Reads a file as text (the seam). */
export type ReadText = (path: string) => Promise<string>;

const readText: ReadText = (path) => fsReadFile(path, 'utf8');

/**
 * Why this network namespace cannot carry IPv6, or undefined when it can: the kernel has no IPv6
 * (`ipv6.disable=1`, or not built), or `net.ipv6.conf.all.disable_ipv6` is 1.
 *
 * @param read the file reader (default: node:fs)
 * @returns the reason, or undefined
 * @example if ((await probeIpv6()) !== undefined) log.warn('no IPv6')
 */
export async function probeIpv6(read: ReadText = readText): Promise<string | undefined> {
  try {
    await read('/proc/net/if_inet6');
  } catch {
    return 'the kernel has no IPv6 (/proc/net/if_inet6 is missing: booted with ipv6.disable=1?)';
  }
  try {
    const disabled = (await read('/proc/sys/net/ipv6/conf/all/disable_ipv6')).trim();
    if (disabled === '1') return 'IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)';
  } catch {
    // No sysctl to read: take IPv6 as there (if_inet6 was).
  }
  return undefined;
}
