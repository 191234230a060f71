/**
 * The ipvs mode's applier: brings the kernel in line with {@link planIpvs} through the seams (ipset,
 * iptables, kube-ipvs0 addresses, IPVS), diffing against what the kernel lists, and drains removed real
 * servers in the background.
 *
 * Order of a sync (as upstream): the dummy device; the ipsets (iptables rules name them); the iptables
 * rules; the VIPs that are new on kube-ipvs0; the IPVS table; VIPs no longer served come off last.
 *
 * @module
 */

import type { IptablesBackend } from '../../contracts/proxy_mode.ts';
import type { SyncOptions, SyncReport } from '../../contracts/sync.ts';
import type { Exec } from '../../kernel/exec.ts';
import {
  createIpset,
  type Ipset,
  type IpsetSpec,
  ipsetSyncLines,
  type ListedIpset,
} from '../../kernel/ipset.ts';
import {
  type Iptables,
  iptablesFor,
  type ResolvedIptablesBackend,
  resolveIptablesBackend,
} from '../../kernel/iptables.ts';
import { renderRestore } from '../../kernel/iptables_restore.ts';
import { parseIptablesSave } from '../../kernel/iptables_state.ts';
import { createIpvs, type Ipvs, type IpvsServiceId, type ListedVirtualServer } from '../../kernel/ipvs.ts';
import { createIpvsNetlink, type IpvsNetlink } from '../../kernel/ipvs_netlink.ts';
import type { IPFamily, ProxyState, StateChange } from '../../model/types.ts';
import { type Clock, systemClock, type Timer } from '../../runner/clock.ts';
import { rewriteChainsInput } from '../common/iptables_restore_input.ts';
import type { Proxier, ProxierDeps } from '../mode.ts';
import { diffIpvs } from './diff.ts';
import { GracefulTermination } from './graceful_termination.ts';
import { IPVS_JUMPS } from './iptables_rules.ts';
import {
  type IpvsFamilyPlan,
  type IpvsPlan,
  type PlannedVirtualServer,
  planFamily,
  planIpvs,
} from './plan.ts';

/** The kernel seams of the ipvs mode (all default to the real ones over `deps.exec`). */
export interface IpvsSeams {
  readonly ipvs: Ipvs;
  readonly ipset: Ipset;
  readonly netlink: IpvsNetlink;
  /** The iptables seam of a family (iptables or ip6tables, on the `--iptables-backend` backend). */
  readonly iptables: (family: IPFamily) => Promise<Iptables>;
}

/** Options of {@link createIpvsProxier} beyond the daemon's deps. */
export interface IpvsProxierOptions {
  readonly seams?: Partial<IpvsSeams> | undefined;
  readonly clock?: Clock | undefined;
  /** How often draining real servers are checked (upstream: 1 minute). */
  readonly gracefulCheckIntervalMs?: number | undefined;
}

/**
 * Above this many changed virtual servers a partial sync lists the whole IPVS table once instead of each
 * changed one (one `ipvsadm` run each).
 */
export const PARTIAL_LIST_LIMIT = 64;

/** Whether two planned virtual servers program the same thing (service options and real servers). */
function samePlanned(a: PlannedVirtualServer, b: PlannedVirtualServer): boolean {
  return (
    a.scheduler === b.scheduler &&
    a.persistentTimeout === b.persistentTimeout &&
    a.flags.length === b.flags.length &&
    a.flags.every((f, i) => b.flags[i] === f) &&
    a.realServers.length === b.realServers.length &&
    a.realServers.every((rs, i) => {
      const other = b.realServers[i]!;
      return rs.address === other.address && rs.port === other.port && rs.weight === other.weight;
    })
  );
}

/** The sysctls IPVS needs, as upstream sets them (conn_reuse_mode is left as is on kernels >= 5.9). */
export const IPVS_SYSCTLS: readonly [string, number][] = [
  ['net.ipv4.vs.conntrack', 1],
  ['net.ipv4.vs.expire_nodest_conn', 1],
  ['net.ipv4.vs.expire_quiescent_template', 1],
  ['net.ipv4.ip_forward', 1],
];

/**
 * Builds the seams over an exec.
 *
 * @param deps the daemon's deps (exec, iptables backend)
 * @returns the real seams
 */
export function realIpvsSeams(deps: Pick<ProxierDeps, 'exec' | 'iptablesBackend'>): IpvsSeams {
  return {
    ipvs: createIpvs(deps.exec),
    ipset: createIpset(deps.exec),
    netlink: createIpvsNetlink(deps.exec),
    iptables: iptablesByFamily(deps.exec, deps.iptablesBackend),
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

/**
 * Creates the ipvs Proxier.
 *
 * @param deps options, exec, logger, iptables backend
 * @param options seams, clock and graceful-termination interval (for tests)
 * @returns the Proxier
 * @example const proxier = createIpvsProxier(deps); await proxier.sync(state, change)
 */
export function createIpvsProxier(deps: ProxierDeps, options: IpvsProxierOptions = {}): IpvsProxier {
  return new IpvsProxier(deps, { ...realIpvsSeams(deps), ...options.seams }, options);
}

/** See {@link createIpvsProxier}. */
export class IpvsProxier implements Proxier {
  readonly #deps: ProxierDeps;
  readonly #seams: IpvsSeams;
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #graceful = new GracefulTermination();
  /** Whether what kproxy last applied (sets, addresses, plan) is what the kernel has (see {@link #ipvsScope}). */
  #trusted = false;
  #lastSets: readonly ListedIpset[] | undefined;
  #lastBound: ReadonlySet<string> | undefined;
  #families = new Set<IPFamily>();
  #lastIptables = new Map<IPFamily, string>();
  #lastPlan: IpvsPlan | undefined;
  #timer: Timer | undefined;
  #stopped = false;
  /** Serializes syncs and graceful checks: they both read and change the IPVS table. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: ProxierDeps, seams: IpvsSeams, options: IpvsProxierOptions) {
    this.#deps = deps;
    this.#seams = seams;
    this.#clock = options.clock ?? systemClock;
    this.#interval = options.gracefulCheckIntervalMs ?? 60_000;
  }

  /** Real servers currently draining (`TCP/VIP:port/RIP:port`). */
  get draining(): string[] {
    return this.#graceful.keys();
  }

  sync(state: ProxyState, change: StateChange, options?: SyncOptions): Promise<SyncReport> {
    return this.#serialized(() => this.#sync(state, change, options?.full ?? false));
  }

  /**
   * Deletes the draining real servers that have no connections left (also runs on a timer).
   *
   * @returns how many were deleted
   */
  checkDraining(): Promise<number> {
    return this.#serialized(() => this.#checkDraining());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#queue.catch(() => undefined);
  }

  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #sync(state: ProxyState, change: StateChange, requestedFull: boolean): Promise<SyncReport> {
    try {
      return await this.#syncOnce(state, change, requestedFull);
    } catch (error) {
      // What kproxy last applied may now differ from the kernel: the next sync lists everything again.
      this.#trusted = false;
      throw error;
    }
  }

  async #syncOnce(state: ProxyState, change: StateChange, requestedFull: boolean): Promise<SyncReport> {
    const { ipvs, ipset, netlink, iptables } = this.#seams;
    // A dummy device that had to be (re)created lost its addresses: nothing kproxy applied can be trusted.
    const dummyCreated = await netlink.ensureDummy();
    const full = requestedFull || !this.#trusted || dummyCreated;
    const plan = planIpvs(state, this.#deps.options);
    for (const warning of plan.warnings) this.#deps.logger.warn(warning);
    let bytes = 0;
    let lines = 0;

    // A full sync lists the whole table once (which also loads ip_vs, whose sysctls exist only then);
    // nothing below changes IPVS before the diff, so that listing is what the diff compares against.
    let table: ListedVirtualServer[] | undefined;
    if (full) {
      table = await ipvs.list();
      for (const [name, value] of IPVS_SYSCTLS) await netlink.setSysctl(name, value);
    }

    // A family served before but not now keeps its chains and sets, emptied.
    const families: IpvsFamilyPlan[] = [...plan.families];
    for (const family of this.#families) {
      if (!families.some((f) => f.family === family))
        families.push(planFamily(family, new Map(), this.#deps.options, [], []));
    }
    const specs: IpsetSpec[] = families.flatMap((f) => f.ipsets);
    // Partial syncs diff the sets against what kproxy last restored (upstream keeps them in memory too).
    const setsNow = full || this.#lastSets === undefined ? await ipset.list() : this.#lastSets;
    this.#lastSets = undefined;
    const setLines = ipsetSyncLines(specs, setsNow);
    if (setLines.length > 0) {
      const script = `${setLines.join('\n')}\n`;
      await ipset.restore(script);
      bytes += Buffer.byteLength(script);
      lines += setLines.length;
    }
    this.#lastSets = specs;
    for (const fp of families) {
      const text = renderRestore(fp.tables);
      if (!full && this.#lastIptables.get(fp.family) === text) continue;
      this.#lastIptables.delete(fp.family);
      const ipt = await iptables(fp.family);
      for (const { table: name, chains } of fp.tables) {
        // A full sync also (re)inserts the jumps from the built-in chains, so it reads what is there.
        const existing = full ? parseIptablesSave(await ipt.save(name)).get(name) : undefined;
        const input = rewriteChainsInput(name, chains, full ? IPVS_JUMPS : [], existing);
        if (input === undefined) continue;
        await ipt.restore(name, input.text, { noflush: true });
        bytes += input.text.length;
        lines += input.lines;
      }
      this.#lastIptables.set(fp.family, text);
      this.#families.add(fp.family);
    }

    // Partial syncs trust the addresses kproxy last left on kube-ipvs0 (the device was not recreated).
    const bound =
      full || this.#lastBound === undefined ? new Set(await netlink.boundAddresses()) : this.#lastBound;
    this.#lastBound = undefined;
    const wantBound = new Set(plan.bindAddresses);
    await netlink.changeAddresses(
      plan.bindAddresses.filter((a) => !bound.has(a)),
      [],
    );

    const { desired, listed } = await this.#ipvsScope(plan, table);
    const diff = diffIpvs(desired, listed, (key) => this.#graceful.has(key));
    const sent = await ipvs.apply(diff.commands);
    bytes += sent.bytes;
    lines += sent.lines;
    for (const key of diff.undrain) this.#graceful.delete(key);
    for (const entry of diff.drain) this.#graceful.add(entry);

    await netlink.changeAddresses(
      [],
      [...bound].filter((a) => !wantBound.has(a)),
    );
    this.#lastBound = wantBound;

    const servicePorts = new Set<string>();
    const owner = new Map<string, string>();
    for (const vs of this.#lastPlan?.virtualServers ?? []) owner.set(vs.key, vs.servicePort);
    for (const vs of plan.virtualServers) owner.set(vs.key, vs.servicePort);
    for (const key of diff.changedServers) {
      const sp = owner.get(key);
      if (sp !== undefined) servicePorts.add(sp);
    }
    this.#lastPlan = plan;
    this.#trusted = true;
    this.#armTimer();
    this.#deps.logger.debug(
      {
        virtualServers: plan.virtualServers.length,
        commands: diff.commands.length,
        draining: this.#graceful.keys().length,
        changed: change.changed.size,
      },
      'ipvs sync',
    );
    return {
      kind: full ? 'full' : 'partial',
      servicePortsWritten: servicePorts.size,
      restoreBytes: bytes,
      restoreLines: lines,
    };
  }

  /**
   * The part of the IPVS table a sync diffs. A full sync diffs every planned virtual server against the
   * whole listed table. A partial sync assumes that the virtual servers whose plan did not change since
   * the last successful sync are still as kproxy left them (only kproxy, and its graceful-termination
   * check, change them; the periodic full sync repairs anything else), and lists only the ones whose plan
   * changed (added, removed or edited), one `ipvsadm -L -t` each, so its cost follows the change, not the
   * table. Above {@link PARTIAL_LIST_LIMIT} changed virtual servers one listing of the table is cheaper.
   */
  async #ipvsScope(
    plan: IpvsPlan,
    table: ListedVirtualServer[] | undefined,
  ): Promise<{ desired: readonly PlannedVirtualServer[]; listed: readonly ListedVirtualServer[] }> {
    if (table !== undefined || this.#lastPlan === undefined)
      return { desired: plan.virtualServers, listed: table ?? (await this.#seams.ipvs.list()) };
    const before = new Map(this.#lastPlan.virtualServers.map((vs) => [vs.key, vs]));
    const changed = new Map<string, IpvsServiceId>();
    for (const vs of plan.virtualServers) {
      const last = before.get(vs.key);
      if (last === undefined || !samePlanned(last, vs)) changed.set(vs.key, vs);
      before.delete(vs.key);
    }
    for (const [key, vs] of before) changed.set(key, vs);
    if (changed.size > PARTIAL_LIST_LIMIT)
      return { desired: plan.virtualServers, listed: await this.#seams.ipvs.list() };
    const listed: ListedVirtualServer[] = [];
    for (const id of changed.values()) {
      const vs = await this.#seams.ipvs.listService(id);
      if (vs !== undefined) listed.push(vs);
    }
    return { desired: plan.virtualServers.filter((vs) => changed.has(vs.key)), listed };
  }

  async #checkDraining(): Promise<number> {
    if (this.#graceful.keys().length === 0) return 0;
    const due = this.#graceful.due(await this.#seams.ipvs.list());
    if (due.length === 0) return 0;
    await this.#seams.ipvs.apply(due.map((d) => d.command));
    for (const { key } of due) this.#graceful.delete(key);
    this.#deps.logger.info({ realServers: due.map((d) => d.key) }, 'ipvs: drained real servers deleted');
    return due.length;
  }

  #armTimer(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      this.checkDraining()
        .catch((error: unknown) =>
          this.#deps.logger.error({ err: error }, 'ipvs: graceful termination check failed'),
        )
        .finally(() => this.#armTimer());
    }, this.#interval);
  }
}
