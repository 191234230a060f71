/**
 * kube-proxy's ipvs node settings (`--ipvs-strict-arp`, `--ipvs-tcp-timeout`, `--ipvs-tcpfin-timeout`,
 * `--ipvs-udp-timeout`, `--ipvs-exclude-cidrs`; the `ipvs` section of the configuration file), applied as
 * upstream's NewProxier and cleanLegacyService do, through the IPVS and netlink seams:
 *
 * - strict ARP: `net.ipv4.conf.all.arp_ignore` = 1 and `net.ipv4.conf.all.arp_announce` = 2, each written
 *   only when it differs, so the node answers ARP only for addresses on the receiving interface and never
 *   for the VIPs on kube-ipvs0 (what MetalLB's L2 mode needs). A failed write stops the start, as upstream.
 * - timeouts: one `ipvsadm --set` when any is above 0 (0 keeps the kernel's), in whole seconds (Go's
 *   `Duration / time.Second` truncates the same way); a failure is logged, as upstream.
 * - excluded CIDRs: virtual servers whose address is in them are never deleted by a sync (another agent
 *   owns them); planned ones are still programmed.
 *
 * @module
 */
import type { Logger } from 'pino';
/** The ipvs mode's node settings (kube-proxy's `ipvs` configuration section, minus the sync periods). */
import type { IpvsTuning } from '../../contracts/plan_options.ts';
import type { Ipvs, IpvsTimeouts, ListedVirtualServer } from '../../kernel/ipvs.ts';
import type { IpvsNetlink } from '../../kernel/ipvs_netlink.ts';
import { cidrsContain } from './plan.ts';

/** The settings, as the plan options carry them. */
export type { IpvsTuning };

/** Upstream's defaults: nothing tuned, nothing excluded. */
export const NO_IPVS_TUNING: IpvsTuning = {
  strictARP: false,
  excludeCIDRs: [],
  tcpTimeoutMs: 0,
  tcpFinTimeoutMs: 0,
  udpTimeoutMs: 0,
};

/** The sysctls strict ARP sets, with their values (upstream's sysctlArpIgnore and sysctlArpAnnounce). */
export const STRICT_ARP_SYSCTLS: readonly [string, number][] = [
  ['net.ipv4.conf.all.arp_ignore', 1],
  ['net.ipv4.conf.all.arp_announce', 2],
];

/**
 * The timeouts in whole seconds, truncated as upstream's `Duration / time.Second`.
 *
 * @param tuning the settings
 * @returns the seconds for `ipvsadm --set` (0: keep)
 * @example ipvsTimeouts({ ...NO_IPVS_TUNING, tcpTimeoutMs: 1_500 }) // { tcp: 1, tcpFin: 0, udp: 0 }
 */
export function ipvsTimeouts(tuning: IpvsTuning): IpvsTimeouts {
  const seconds = (ms: number) => Math.trunc(ms / 1000);
  return {
    tcp: seconds(tuning.tcpTimeoutMs),
    tcpFin: seconds(tuning.tcpFinTimeoutMs),
    udp: seconds(tuning.udpTimeoutMs),
  };
}

/**
 * Applies strict ARP and the timeouts, once, before the first sync.
 *
 * @param tuning the settings
 * @param seams the IPVS and netlink seams
 * @param logger where a failed timeout change is reported
 * @throws {KernelError} when a strict-ARP sysctl cannot be read or written
 * @example await applyIpvsTuning(tuning, { ipvs, netlink }, logger)
 */
export async function applyIpvsTuning(
  tuning: IpvsTuning,
  seams: { readonly ipvs: Ipvs; readonly netlink: IpvsNetlink },
  logger: Logger,
): Promise<void> {
  if (tuning.strictARP) {
    for (const [name, value] of STRICT_ARP_SYSCTLS) {
      if ((await seams.netlink.getSysctl(name)) !== value) await seams.netlink.setSysctl(name, value);
    }
  }
  const timeouts = ipvsTimeouts(tuning);
  if (timeouts.tcp > 0 || timeouts.tcpFin > 0 || timeouts.udp > 0) {
    try {
      await seams.ipvs.setTimeouts(timeouts);
    } catch (error) {
      logger.error({ err: error, timeouts }, 'Failed to configure IPVS timeouts');
    }
  }
}

/**
 * The listed virtual servers a sync may delete: those not in an excluded CIDR, and the excluded ones the
 * plan wants (so that their options and real servers are still brought in line).
 *
 * @param listed the kernel's virtual servers
 * @param excludeCIDRs `--ipvs-exclude-cidrs`
 * @param planned whether the plan has a virtual server (by its address)
 * @returns the virtual servers to diff against
 * @example withoutExcluded(await ipvs.list(), ['198.18.200.0/24'], () => false)
 */
export function withoutExcluded(
  listed: readonly ListedVirtualServer[],
  excludeCIDRs: readonly string[],
  planned: (vs: ListedVirtualServer) => boolean,
): readonly ListedVirtualServer[] {
  if (excludeCIDRs.length === 0) return listed;
  return listed.filter((vs) => planned(vs) || !cidrsContain(excludeCIDRs, vs.address));
}
