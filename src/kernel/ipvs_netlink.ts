/**
 * The link and address seam of the ipvs mode (upstream's NetLinkHandle): the dummy interface that holds
 * every service VIP, the node's other local addresses, and the sysctls IPVS needs. Over `ip` (JSON
 * output, batch input) and `sysctl`.
 *
 * @module
 */
import type { IPFamily } from '../model/types.ts';
import type { Exec } from './exec.ts';
import { KernelError, mustExec } from './exec.ts';

/** The dummy interface that holds the VIPs, as upstream names it. */
export const IPVS_DUMMY_DEVICE = 'kube-ipvs0';

/** The link/address/sysctl seam. */
export interface IpvsNetlink {
  /**
   * Creates the dummy device unless it exists, and returns its interface index: a new index means a new
   * device, without the addresses bound to the old one (one Proxier per IP family shares the device, so
   * "I created it" alone would not tell the other family's Proxier that its addresses are gone).
   */
  ensureDummy(): Promise<number>;
  /** Deletes the dummy device (and so its addresses) if it exists. */
  deleteDummy(): Promise<void>;
  /** Addresses bound to the dummy device (empty when it does not exist), of one family when given. */
  boundAddresses(family?: IPFamily): Promise<string[]>;
  /** Every local address on another interface than the dummy device (node addresses). */
  otherLocalAddresses(): Promise<string[]>;
  /**
   * Whether the node delivers packets to `address` locally (`ip -j route get ADDRESS` answers a route of
   * type local): one FIB lookup, whatever the number of addresses bound (for integrity checks between
   * syncs: an address unbound from kube-ipvs0 loses its local route).
   */
  isLocal(address: string): Promise<boolean>;
  /** Binds (`add`) and unbinds (`del`) addresses on the dummy device, in one batch. */
  changeAddresses(add: readonly string[], del: readonly string[]): Promise<void>;
  /** `sysctl -w NAME=VALUE` (per network namespace for net.*). */
  setSysctl(name: string, value: number): Promise<void>;
  /** `sysctl -n NAME`: an integer sysctl's value. */
  getSysctl(name: string): Promise<number>;
}

interface IpAddrJson {
  readonly ifname?: string;
  readonly addr_info?: readonly { readonly local?: string }[];
}

function prefixed(address: string): string {
  return address.includes(':') ? `${address}/128` : `${address}/32`;
}

/**
 * The real seam, over `ip` and `sysctl`.
 *
 * @param exec where to run
 * @returns the seam
 * @example const netlink = createIpvsNetlink(createExec({ netns: 'kpt-node-1' }))
 */
export function createIpvsNetlink(exec: Exec): IpvsNetlink {
  const exists = async () => (await exec('ip', ['-j', 'link', 'show', IPVS_DUMMY_DEVICE])).code === 0;
  const index = async (): Promise<number> => {
    const { stdout } = await mustExec(exec, 'ip', ['-j', 'link', 'show', IPVS_DUMMY_DEVICE]);
    const links = JSON.parse(stdout) as { readonly ifindex?: number }[];
    const ifindex = links[0]?.ifindex;
    if (typeof ifindex !== 'number')
      throw new KernelError(`ip -j link show ${IPVS_DUMMY_DEVICE}`, 0, `no ifindex in: ${stdout.trim()}`);
    return ifindex;
  };
  const allAddresses = async (family?: IPFamily): Promise<IpAddrJson[]> => {
    const only = family === undefined ? [] : [family === 'IPv4' ? '-4' : '-6'];
    const { stdout } = await mustExec(exec, 'ip', ['-j', ...only, 'addr', 'show']);
    return JSON.parse(stdout) as IpAddrJson[];
  };
  return {
    async ensureDummy() {
      const { code, stdout } = await exec('ip', ['-j', 'link', 'show', IPVS_DUMMY_DEVICE]);
      if (code === 0) {
        const ifindex = (JSON.parse(stdout) as { readonly ifindex?: number }[])[0]?.ifindex;
        if (typeof ifindex === 'number') return ifindex;
      } else {
        await mustExec(exec, 'ip', ['link', 'add', IPVS_DUMMY_DEVICE, 'type', 'dummy']);
      }
      return index();
    },
    async deleteDummy() {
      if (await exists()) await mustExec(exec, 'ip', ['link', 'del', IPVS_DUMMY_DEVICE]);
    },
    async boundAddresses(family) {
      const links = await allAddresses(family);
      const dummy = links.find((l) => l.ifname === IPVS_DUMMY_DEVICE);
      return (dummy?.addr_info ?? []).flatMap((a) => (a.local === undefined ? [] : [a.local]));
    },
    async otherLocalAddresses() {
      const links = await allAddresses();
      return links
        .filter((l) => l.ifname !== IPVS_DUMMY_DEVICE)
        .flatMap((l) => (l.addr_info ?? []).flatMap((a) => (a.local === undefined ? [] : [a.local])));
    },
    async isLocal(address) {
      const r = await exec('ip', ['-j', 'route', 'get', address]);
      // No route at all ("Network is unreachable"): certainly not local.
      if (r.code !== 0 && /RTNETLINK answers/.test(r.stderr)) return false;
      if (r.code !== 0) throw new KernelError(`ip -j route get ${address}`, r.code, r.stderr);
      const routes = JSON.parse(r.stdout) as { readonly type?: string }[];
      return routes[0]?.type === 'local';
    },
    async changeAddresses(add, del) {
      if (add.length === 0 && del.length === 0) return;
      const lines = [
        ...del.map((a) => `addr del ${prefixed(a)} dev ${IPVS_DUMMY_DEVICE}`),
        ...add.map((a) => `addr add ${prefixed(a)} dev ${IPVS_DUMMY_DEVICE}`),
      ];
      await mustExec(exec, 'ip', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
    },
    async setSysctl(name, value) {
      await mustExec(exec, 'sysctl', ['-w', `${name}=${value}`]);
    },
    async getSysctl(name) {
      const { stdout } = await mustExec(exec, 'sysctl', ['-n', name]);
      const text = stdout.trim();
      if (!/^-?\d+$/.test(text))
        throw new KernelError(`sysctl -n ${name}`, 0, `not an integer: ${JSON.stringify(text)}`);
      return Number(text);
    },
  };
}
