/**
 * One fake host for the ipvs mode: an {@link Exec} that routes `ipvsadm`, `ipset`, `ip`, `sysctl`,
 * `conntrack -L` and `-D` (deletions recorded, with conntrack's family checks; it holds no entries) and the
 * iptables-nft tools (`iptables-nft[-save|-restore]`, `ip6tables-nft[-save|-restore]`) to strict
 * in-memory models, so that the ipvs Proxier runs unchanged (real wrappers, real command lines) without a
 * kernel. The host has only the nft backend installed: the legacy tools fail to start, as on such a host.
 *
 * @module
 */
import { isIPv6 } from 'node:net';
import { type Exec, type ExecResult, KernelError } from '../exec.ts';
import { FakeIpset } from './ipset_fake.ts';
import { FakeIptables, type IptablesTool } from './iptables_fake.ts';
import { FakeIpvs } from './ipvs_fake.ts';
import { FakeNetlink } from './ipvs_netlink_fake.ts';

/** `iptables-nft-save` → ['', 'nft', 'save']; `ip6tables-legacy` → ['ip6', 'legacy', undefined]. */
const IPTABLES_TOOL = /^(ip6?)tables-(nft|legacy)(?:-(save|restore))?$/;

/** The fake host's parts, for assertions. */
export interface FakeIpvsHost {
  readonly exec: Exec;
  readonly ipvs: FakeIpvs;
  readonly ipset: FakeIpset;
  /** iptables-nft (IPv4). */
  readonly iptables: FakeIptables;
  /** ip6tables-nft (IPv6). */
  readonly ip6tables: FakeIptables;
  readonly netlink: FakeNetlink;
  /** Every command run, as `program arg arg...`. */
  readonly commands: string[];
  /** The `conntrack` deletions run, in order: their arguments without `-f`, then `@` and the family. */
  readonly conntrackDeletions: string[][];
  /** When set, the next command whose line starts with this prefix fails (exit 1) once. */
  failNext: string | undefined;
}

/**
 * Builds a fake host.
 *
 * @returns the host; its `exec` is what the Proxier gets
 * @example const host = createFakeIpvsHost(); const proxier = ipvsMode.createProxier({ ...deps, exec: host.exec })
 */
export function createFakeIpvsHost(): FakeIpvsHost {
  const ipvs = new FakeIpvs();
  const ipset = new FakeIpset();
  const setExists = (name: string) => ipset.has(name);
  const iptables = new FakeIptables('nft', { family: 'IPv4', setExists });
  const ip6tables = new FakeIptables('nft', { family: 'IPv6', setExists });
  const netlink = new FakeNetlink();
  ipset.isReferenced = (name) => iptables.referencesSet(name) || ip6tables.referencesSet(name);
  const host: FakeIpvsHost = {
    ipvs,
    ipset,
    iptables,
    ip6tables,
    netlink,
    commands: [],
    conntrackDeletions: [],
    failNext: undefined,
    exec: async (command, args, options = {}) => {
      const line = [command, ...args].join(' ');
      host.commands.push(line);
      if (host.failNext !== undefined && line.startsWith(host.failNext)) {
        host.failNext = undefined;
        return { code: 1, stdout: '', stderr: `injected failure: ${line}\n` };
      }
      return run(command, args, options.input ?? '');
    },
  };
  function run(command: string, args: readonly string[], input: string): ExecResult {
    const tool = IPTABLES_TOOL.exec(command);
    if (tool !== null) {
      if (tool[2] === 'legacy') throw new KernelError(command, -1, `spawn ${command} ENOENT`);
      return (tool[1] === 'ip6' ? ip6tables : iptables).answer(
        (tool[3] ?? 'iptables') as IptablesTool,
        args,
        input,
      );
    }
    switch (command) {
      case 'ipvsadm':
        netlink.ipvsLoaded = true;
        return ipvs.ipvsadm(args, input);
      case 'ipset':
        return ipset.ipset(args, input);
      case 'ip':
        return netlink.ip(args, input);
      case 'sysctl':
        return netlink.sysctl(args);
      case 'conntrack':
        return conntrack(args);
      default:
        throw new Error(`kproxy fake host: unexpected command ${command} ${args.join(' ')}`);
    }
  }
  /**
   * `conntrack -D ...`: the table is empty, so every deletion deletes nothing (exit 1, as conntrack).
   * As conntrack, the family is `-f`'s, else the addresses', else IPv4; an address of another family is
   * refused. The deletions are recorded with the family they act on, so a test sees which table is read.
   */
  function conntrack(args: readonly string[]): ExecResult {
    if (
      args[0] === '-L' &&
      args[1] === '-f' &&
      (args[2] === 'ipv4' || args[2] === 'ipv6') &&
      args.length === 3
    )
      return {
        code: 0,
        stdout: '',
        stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n',
      };
    if (args[0] !== '-D') throw new Error(`kproxy fake host: unexpected conntrack ${args.join(' ')}`);
    const at = args.indexOf('-f');
    const addresses = ['--orig-dst', '--dst-nat'].flatMap((option) => {
      const i = args.indexOf(option);
      return i < 0 ? [] : [args[i + 1] ?? ''];
    });
    const family = at >= 0 ? args[at + 1] : addresses.some((a) => isIPv6(a)) ? 'ipv6' : 'ipv4';
    if (family !== 'ipv4' && family !== 'ipv6')
      return { code: 2, stdout: '', stderr: `conntrack: unknown family ${String(family)}\n` };
    if (addresses.some((a) => isIPv6(a) !== (family === 'ipv6')))
      return { code: 2, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): mismatched family\n' };
    const rest = at < 0 ? args : args.filter((_, i) => i !== at && i !== at + 1);
    host.conntrackDeletions.push([...rest, '@', family]);
    return {
      code: 1,
      stdout: '',
      stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n',
    };
  }
  return host;
}
