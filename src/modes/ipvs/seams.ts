/**
 * The kernel seams of the ipvs mode (IPVS, ipset, the dummy interface and sysctls, iptables per family,
 * conntrack deletions and the conntrack table), built over the daemon's exec, for the Proxier, the host check and the cleanup alike.
 *
 * @module
 */
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { IptablesBackend } from '../../contracts/proxy_mode.ts';
import { type Conntrack, createConntrack } from '../../kernel/conntrack.ts';
import { type ConntrackTable, createConntrackTable } from '../../kernel/conntrack_table.ts';
import type { Exec } from '../../kernel/exec.ts';
import { createIpset, type Ipset } from '../../kernel/ipset.ts';
import {
  type Iptables,
  iptablesFor,
  type ResolvedIptablesBackend,
  resolveIptablesBackend,
} from '../../kernel/iptables.ts';
import { createIpvs, type Ipvs } from '../../kernel/ipvs.ts';
import { createIpvsNetlink, type IpvsNetlink } from '../../kernel/ipvs_netlink.ts';
import type { IPFamily } from '../../model/types.ts';
import type { ProxierDeps } from '../mode.ts';

/** The kernel seams of the ipvs mode (all default to the real ones over `deps.exec`). */
export interface IpvsSeams {
  readonly ipvs: Ipvs;
  readonly ipset: Ipset;
  readonly netlink: IpvsNetlink;
  /** The iptables seam of a family (iptables or ip6tables, on the `--iptables-backend` backend). */
  readonly iptables: (family: IPFamily) => Promise<Iptables>;
  /** Deletes the UDP conntrack entries a sync leaves stale (of the family of `deps.options.ipFamily`). */
  readonly conntrack: Conntrack;
  /** The conntrack table of every family, for healing after an outage (modes/common/heal_conntrack.ts). */
  readonly conntrackTable: ConntrackTable;
}

/**
 * Builds the seams over an exec.
 *
 * @param deps the daemon's deps (exec, iptables backend, and the family of the Proxier, for conntrack)
 * @returns the real seams
 * @example const { ipvs } = realIpvsSeams(deps); await ipvs.list()
 */
export function realIpvsSeams(
  deps: Pick<ProxierDeps, 'exec' | 'iptablesBackend'> & { readonly options?: Pick<PlanOptions, 'ipFamily'> },
): IpvsSeams {
  const family = deps.options?.ipFamily ?? 'IPv4';
  return {
    ipvs: createIpvs(deps.exec),
    ipset: createIpset(deps.exec),
    netlink: createIpvsNetlink(deps.exec),
    iptables: iptablesByFamily(deps.exec, deps.iptablesBackend),
    conntrack: createConntrack(deps.exec, { family }),
    conntrackTable: createConntrackTable(deps.exec),
  };
}

/** The seam per family; `auto` is detected once, on first use, for both families. */
function iptablesByFamily(exec: Exec, backend: IptablesBackend): (family: IPFamily) => Promise<Iptables> {
  let resolved: Promise<ResolvedIptablesBackend> | undefined;
  return async (family) => {
    resolved ??= resolveIptablesBackend(exec, backend).catch((error: unknown) => {
      resolved = undefined;
      throw error;
    });
    return iptablesFor(exec, await resolved, { family });
  };
}
