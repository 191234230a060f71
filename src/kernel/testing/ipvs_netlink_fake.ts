/**
 * A strict in-memory model of the links, addresses and sysctls the ipvs mode touches, answering the `ip`
 * and `sysctl` commands {@link createIpvsNetlink} runs as the real tools do.
 *
 * @module
 */
import { isIP } from 'node:net';
import type { ExecResult } from '../exec.ts';
import { runBatchLines } from './batch_input.ts';

class IpFailure extends Error {}

/** The fake links; {@link FakeNetlink.ip} is its `ip`, {@link FakeNetlink.sysctl} its `sysctl`. */
export class FakeNetlink {
  /** Link name → addresses. Starts with `lo` and any node interfaces the test adds. */
  readonly links = new Map<string, { type: string; index: number; addresses: Set<string> }>([
    ['lo', { type: 'loopback', index: 1, addresses: new Set(['127.0.0.1']) }],
  ]);
  /** The kernel numbers links in order of creation and does not reuse a number soon. */
  #nextIndex = 2;
  readonly sysctls = new Map<string, number>();
  /** False until IPVS is used once (the module loads on demand): only then do net.ipv4.vs.* exist. */
  ipvsLoaded = false;

  /**
   * Adds a node interface with addresses (what the node had before kproxy started).
   *
   * @param name the interface
   * @param addresses its addresses
   */
  addInterface(name: string, addresses: readonly string[]): void {
    this.links.set(name, { type: 'veth', index: this.#nextIndex++, addresses: new Set(addresses) });
  }

  /** Runs `ip ARGS`. */
  ip(args: readonly string[], input = ''): ExecResult {
    try {
      if (args[0] === '-batch' && args[1] === '-') {
        runBatchLines(
          input,
          (words) => this.#run(words),
          (error, n) =>
            error instanceof IpFailure ? new IpFailure(`${error.message}\nCommand failed -:${n}`) : error,
        );
        return { code: 0, stdout: '', stderr: '' };
      }
      return { code: 0, stdout: this.#run(args), stderr: '' };
    } catch (error) {
      if (!(error instanceof IpFailure)) throw error;
      return { code: error.message.startsWith('Device') ? 1 : 2, stdout: '', stderr: `${error.message}\n` };
    }
  }

  /** Runs `sysctl -w NAME=VALUE` or `sysctl -n NAME` (a sysctl never set reads as 0, the kernel's default). */
  sysctl(args: readonly string[]): ExecResult {
    if (args[0] === '-n' && args.length === 2) {
      const name = args[1]!;
      if (!/^[a-z0-9_.]+$/.test(name) || (name.startsWith('net.ipv4.vs.') && !this.ipvsLoaded)) {
        const path = `/proc/sys/${name.replaceAll('.', '/')}`;
        return { code: 1, stdout: '', stderr: `sysctl: cannot stat ${path}: No such file or directory\n` };
      }
      return { code: 0, stdout: `${this.sysctls.get(name) ?? 0}\n`, stderr: '' };
    }
    const m = args[0] === '-w' && args.length === 2 ? /^([a-z0-9_.]+)=(\d+)$/.exec(args[1]!) : null;
    if (m === null) return { code: 255, stdout: '', stderr: `sysctl: unsupported: ${args.join(' ')}\n` };
    if (m[1]!.startsWith('net.ipv4.vs.') && !this.ipvsLoaded) {
      const path = `/proc/sys/${m[1]!.replaceAll('.', '/')}`;
      return { code: 1, stdout: '', stderr: `sysctl: cannot stat ${path}: No such file or directory\n` };
    }
    this.sysctls.set(m[1]!, Number(m[2]));
    return { code: 0, stdout: `${m[1]} = ${m[2]}\n`, stderr: '' };
  }

  #run(words: readonly string[]): string {
    const json = words[0] === '-j';
    const afterJson = json ? words.slice(1) : words;
    // `ip -4` / `ip -6`: addresses of that family only.
    const version = afterJson[0] === '-4' ? 4 : afterJson[0] === '-6' ? 6 : undefined;
    const [object, verb, ...rest] = version === undefined ? afterJson : afterJson.slice(1);
    if (object === 'link' && verb === 'show') {
      const name = rest[0];
      if (name === undefined) throw new IpFailure('kproxy fake: ip link show needs a name');
      const link = this.links.get(name);
      if (link === undefined) throw new IpFailure(`Device "${name}" does not exist.`);
      return JSON.stringify([{ ifindex: link.index, ifname: name }]);
    }
    if (object === 'link' && verb === 'add') {
      const [name, typeWord, type] = rest;
      if (name === undefined || typeWord !== 'type' || type !== 'dummy')
        throw new IpFailure('kproxy fake: only dummy links');
      if (this.links.has(name)) throw new IpFailure('RTNETLINK answers: File exists');
      this.links.set(name, { type, index: this.#nextIndex++, addresses: new Set() });
      return '';
    }
    if (object === 'link' && (verb === 'del' || verb === 'delete')) {
      const name = rest[0] ?? '';
      if (!this.links.has(name)) throw new IpFailure(`Cannot find device "${name}"`);
      this.links.delete(name);
      return '';
    }
    if (object === 'route' && verb === 'get' && json && rest.length === 1) {
      // Only local routes: an address bound to a link (up or down, as the kernel's local table) is local;
      // any other has no route here.
      const address = rest[0]!;
      if (isIP(address) === 0)
        throw new IpFailure(`Error: any valid prefix is expected rather than "${address}".`);
      const local = [...this.links.values()].some((link) => link.addresses.has(address));
      if (!local) throw new IpFailure('RTNETLINK answers: Network is unreachable');
      return JSON.stringify([{ type: 'local', dst: address, dev: 'lo', prefsrc: address, flags: [] }]);
    }
    if ((object === 'addr' || object === 'address') && verb === 'show' && json) {
      const only = rest[0] === 'dev' ? rest[1] : undefined;
      if (only !== undefined && !this.links.has(only))
        throw new IpFailure(`Device "${only}" does not exist.`);
      return JSON.stringify(
        [...this.links.entries()]
          .filter(([name]) => only === undefined || name === only)
          .map(([ifname, link]) => ({
            ifname,
            addr_info: [...link.addresses]
              .filter((local) => version === undefined || isIP(local) === version)
              .map((local) => ({ local })),
          })),
      );
    }
    if ((object === 'addr' || object === 'address') && (verb === 'add' || verb === 'del')) {
      const [cidr, devWord, dev] = rest;
      const link = this.links.get(dev ?? '');
      if (devWord !== 'dev' || link === undefined) throw new IpFailure(`Cannot find device "${dev ?? ''}"`);
      const [address, prefix] = (cidr ?? '').split('/');
      if (address === undefined || isIP(address) === 0 || prefix === undefined)
        throw new IpFailure(`Error: inet prefix is expected rather than "${cidr}".`);
      if (verb === 'add') {
        if (link.addresses.has(address)) throw new IpFailure('RTNETLINK answers: File exists');
        link.addresses.add(address);
      } else {
        if (!link.addresses.has(address))
          throw new IpFailure('RTNETLINK answers: Cannot assign requested address');
        link.addresses.delete(address);
      }
      return '';
    }
    throw new IpFailure(`kproxy fake: unsupported ip command: ${words.join(' ')}`);
  }
}
