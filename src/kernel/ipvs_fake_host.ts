/**
 * One fake host for the ipvs mode: an {@link Exec} that routes `ipvsadm`, `ipset`, `ip`, `sysctl`,
 * `iptables-save/restore` and `ip6tables-save/restore` to strict in-memory models, so that the ipvs
 * Proxier runs unchanged (real wrappers, real command lines) without a kernel.
 *
 * @module
 */
import type { Exec, ExecResult } from './exec.ts';
import { FakeIpset } from './ipset_fake.ts';
import { FakeIpvs } from './ipvs_fake.ts';
import { FakeIptables } from './ipvs_iptables_fake.ts';
import { FakeNetlink } from './ipvs_netlink_fake.ts';

/** The fake host's parts, for assertions. */
export interface FakeIpvsHost {
  readonly exec: Exec;
  readonly ipvs: FakeIpvs;
  readonly ipset: FakeIpset;
  readonly iptables: FakeIptables;
  readonly ip6tables: FakeIptables;
  readonly netlink: FakeNetlink;
  /** Every command run, as `program arg arg...`. */
  readonly commands: string[];
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
  const iptables = new FakeIptables(ipset);
  const ip6tables = new FakeIptables(ipset);
  const netlink = new FakeNetlink();
  ipset.isReferenced = (name) => iptables.referencesSet(name) || ip6tables.referencesSet(name);
  const host: FakeIpvsHost = {
    ipvs,
    ipset,
    iptables,
    ip6tables,
    netlink,
    commands: [],
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
      case 'iptables-save':
        return iptables.save(args);
      case 'iptables-restore':
        return iptables.restore(args, input);
      case 'ip6tables-save':
        return ip6tables.save(args);
      case 'ip6tables-restore':
        return ip6tables.restore(args, input);
      default:
        throw new Error(`kproxy fake host: unexpected command ${command} ${args.join(' ')}`);
    }
  }
  return host;
}
