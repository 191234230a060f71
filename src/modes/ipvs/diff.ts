/**
 * The difference between the planned IPVS table and the kernel's (listed, never assumed): the commands
 * that turn one into the other, with removed real servers handed to graceful termination instead of
 * being deleted under their connections. Also the difference between two plans: which virtual servers a
 * partial sync must look at, and which service ports a sync wrote.
 *
 * @module
 */
import type {
  IpvsCommand,
  IpvsRealServer,
  IpvsServiceId,
  IpvsVirtualServer,
  ListedVirtualServer,
} from '../../kernel/ipvs.ts';
import { hostPort } from '../../kernel/ipvs.ts';
import type { ServicePortKey } from '../../model/types.ts';
import { type DrainingServer, needsGracefulTermination, realServerKey } from './graceful_termination.ts';
import type { IpvsPlan, PlannedVirtualServer } from './plan.ts';

/** What a sync must do to the IPVS table. */
export interface IpvsDiff {
  /** In order: services added/edited with their real servers, real servers drained or deleted, services deleted. */
  readonly commands: readonly IpvsCommand[];
  /** Real servers that now drain (weight 0 set by `commands`, or already 0 and not tracked yet). */
  readonly drain: readonly DrainingServer[];
  /** Real-server keys that no longer drain (wanted again, deleted, or gone with their service). */
  readonly undrain: readonly string[];
  /** Keys of the virtual servers that change. */
  readonly changedServers: ReadonlySet<string>;
}

function sameService(a: IpvsVirtualServer, b: IpvsVirtualServer): boolean {
  return (
    a.scheduler === b.scheduler &&
    a.persistentTimeout === b.persistentTimeout &&
    a.flags.length === b.flags.length &&
    a.flags.every((f, i) => b.flags[i] === f)
  );
}

function plain(vs: IpvsVirtualServer): IpvsVirtualServer {
  return {
    protocol: vs.protocol,
    address: vs.address,
    port: vs.port,
    scheduler: vs.scheduler,
    flags: vs.flags,
    persistentTimeout: vs.persistentTimeout,
  };
}

/**
 * Diffs the plan against the kernel's table.
 *
 * @param desired the planned virtual servers
 * @param listed the kernel's virtual servers
 * @param isDraining whether a real server (by {@link realServerKey}) is already draining
 * @returns commands and graceful-termination changes
 * @example const { commands } = diffIpvs(plan.virtualServers, await ipvs.list(), (k) => graceful.has(k))
 */
export function diffIpvs(
  desired: readonly PlannedVirtualServer[],
  listed: readonly ListedVirtualServer[],
  isDraining: (key: string) => boolean,
): IpvsDiff {
  const listedByKey = new Map(listed.map((vs) => [`${vs.protocol}/${hostPort(vs.address, vs.port)}`, vs]));
  const wanted = new Set(desired.map((vs) => vs.key));
  const adds: IpvsCommand[] = [];
  const removals: IpvsCommand[] = [];
  const deletes: IpvsCommand[] = [];
  const drain: DrainingServer[] = [];
  const undrain: string[] = [];
  const changed = new Set<string>();

  for (const vs of desired) {
    const id = { protocol: vs.protocol, address: vs.address, port: vs.port };
    const current = listedByKey.get(vs.key);
    if (current === undefined) {
      changed.add(vs.key);
      adds.push({ op: 'add-service', service: plain(vs) });
      for (const server of vs.realServers) adds.push({ op: 'add-server', service: id, server });
      continue;
    }
    if (!sameService(vs, current)) {
      changed.add(vs.key);
      adds.push({ op: 'edit-service', service: plain(vs) });
    }
    const have = new Map(current.realServers.map((rs) => [hostPort(rs.address, rs.port), rs]));
    const want = new Map<string, IpvsRealServer>(
      vs.realServers.map((rs) => [hostPort(rs.address, rs.port), rs]),
    );
    for (const [key, server] of want) {
      const rs = have.get(key);
      const rsKey = realServerKey(id, server);
      if (isDraining(rsKey)) undrain.push(rsKey);
      if (rs === undefined) {
        changed.add(vs.key);
        adds.push({ op: 'add-server', service: id, server });
      } else if (rs.weight !== server.weight) {
        changed.add(vs.key);
        adds.push({ op: 'edit-server', service: id, server });
      }
    }
    for (const [key, rs] of have) {
      if (want.has(key)) continue;
      const rsKey = realServerKey(id, rs);
      if (isDraining(rsKey)) continue;
      const idle = rs.activeConnections + rs.inactiveConnections === 0;
      const server = { address: rs.address, port: rs.port };
      changed.add(vs.key);
      if (!needsGracefulTermination(vs.protocol) || idle) {
        removals.push({ op: 'delete-server', service: id, server: { ...server, protocol: vs.protocol } });
      } else {
        if (rs.weight !== 0)
          removals.push({ op: 'edit-server', service: id, server: { ...server, weight: 0 } });
        drain.push({ service: id, server });
      }
    }
  }
  for (const [key, vs] of listedByKey) {
    if (wanted.has(key)) continue;
    changed.add(key);
    deletes.push({
      op: 'delete-service',
      service: { protocol: vs.protocol, address: vs.address, port: vs.port },
    });
    for (const rs of vs.realServers) {
      const rsKey = realServerKey(vs, rs);
      if (isDraining(rsKey)) undrain.push(rsKey);
    }
  }
  return { commands: [...adds, ...removals, ...deletes], drain, undrain, changedServers: changed };
}

/** Whether two planned virtual servers program the same thing (service options and real servers). */
function samePlanned(a: PlannedVirtualServer, b: PlannedVirtualServer): boolean {
  return (
    sameService(a, b) &&
    a.realServers.length === b.realServers.length &&
    a.realServers.every((rs, i) => {
      const other = b.realServers[i]!;
      return rs.address === other.address && rs.port === other.port && rs.weight === other.weight;
    })
  );
}

/**
 * The virtual servers whose plan changed between two plans: added, removed, or with other service
 * options or real servers.
 *
 * @param before the plan applied last
 * @param after the plan to apply
 * @returns key → identity of each changed virtual server (those of `after` first, in its order)
 * @example changedVirtualServers(applied, plan).size // 0 when nothing changed
 */
export function changedVirtualServers(before: IpvsPlan, after: IpvsPlan): Map<string, IpvsServiceId> {
  const previous = new Map(before.virtualServers.map((vs) => [vs.key, vs]));
  const changed = new Map<string, IpvsServiceId>();
  for (const vs of after.virtualServers) {
    const last = previous.get(vs.key);
    if (last === undefined || !samePlanned(last, vs)) changed.set(vs.key, vs);
    previous.delete(vs.key);
  }
  for (const [key, vs] of previous) changed.set(key, vs);
  return changed;
}

/**
 * The service ports behind some virtual servers, looked up in the new plan and else in the one before
 * (for virtual servers that went away).
 *
 * @param keys virtual-server keys (e.g. {@link IpvsDiff.changedServers})
 * @param before the plan applied last, if any
 * @param after the plan applied now
 * @returns the service ports those virtual servers belong to
 * @example changedServicePorts(diff.changedServers, applied, plan).size
 */
export function changedServicePorts(
  keys: Iterable<string>,
  before: IpvsPlan | undefined,
  after: IpvsPlan,
): Set<ServicePortKey> {
  const owner = new Map<string, ServicePortKey>();
  for (const vs of before?.virtualServers ?? []) owner.set(vs.key, vs.servicePort);
  for (const vs of after.virtualServers) owner.set(vs.key, vs.servicePort);
  const servicePorts = new Set<ServicePortKey>();
  for (const key of keys) {
    const sp = owner.get(key);
    if (sp !== undefined) servicePorts.add(sp);
  }
  return servicePorts;
}
