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
import type { Exec } from '../../kernel/exec.ts';
import { createIpset, type Ipset, type IpsetSpec, ipsetSyncLines } from '../../kernel/ipset.ts';
import {
  type Iptables,
  iptablesFor,
  type ResolvedIptablesBackend,
  resolveIptablesBackend,
} from '../../kernel/iptables.ts';
import { renderRestore } from '../../kernel/iptables_restore.ts';
import { parseIptablesSave } from '../../kernel/iptables_state.ts';
import { createIpvs, type Ipvs } from '../../kernel/ipvs.ts';
import { createIpvsNetlink, type IpvsNetlink } from '../../kernel/ipvs_netlink.ts';
import type { IPFamily, ProxyState, StateChange } from '../../model/types.ts';
import { type Clock, systemClock, type Timer } from '../../runner/clock.ts';
import { rewriteChainsInput } from '../iptables/sync_input.ts';
import type { IptablesBackend, Proxier, ProxierDeps, SyncOptions, SyncReport } from '../mode.ts';
import { GracefulTermination } from './graceful_termination.ts';
import { diffIpvs } from './ipvs_diff.ts';
import { IPVS_JUMPS } from './ipvs_iptables_rules.ts';
import { type IpvsFamilyPlan, type IpvsPlan, planFamily, planIpvs } from './ipvs_plan.ts';

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
  #synced = false;
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
    const { ipvs, ipset, netlink, iptables } = this.#seams;
    const full = requestedFull || !this.#synced;
    const plan = planIpvs(state, this.#deps.options);
    for (const warning of plan.warnings) this.#deps.logger.warn(warning);
    let bytes = 0;
    let lines = 0;

    if (full) {
      // Listing the table loads ip_vs on demand; its sysctls exist only then.
      await ipvs.list();
      for (const [name, value] of IPVS_SYSCTLS) await netlink.setSysctl(name, value);
    }
    await netlink.ensureDummy();

    // A family served before but not now keeps its chains and sets, emptied.
    const families: IpvsFamilyPlan[] = [...plan.families];
    for (const family of this.#families) {
      if (!families.some((f) => f.family === family))
        families.push(planFamily(family, new Map(), this.#deps.options, [], []));
    }
    const specs: IpsetSpec[] = families.flatMap((f) => f.ipsets);
    const setLines = ipsetSyncLines(specs, await ipset.list());
    if (setLines.length > 0) {
      const script = `${setLines.join('\n')}\n`;
      await ipset.restore(script);
      bytes += Buffer.byteLength(script);
      lines += setLines.length;
    }
    for (const fp of families) {
      const text = renderRestore(fp.tables);
      if (!full && this.#lastIptables.get(fp.family) === text) continue;
      this.#lastIptables.delete(fp.family);
      const ipt = await iptables(fp.family);
      for (const { table, chains } of fp.tables) {
        // A full sync also (re)inserts the jumps from the built-in chains, so it reads what is there.
        const existing = full ? parseIptablesSave(await ipt.save(table)).get(table) : undefined;
        const input = rewriteChainsInput(table, chains, full ? IPVS_JUMPS : [], existing);
        if (input === undefined) continue;
        await ipt.restore(table, input.text, { noflush: true });
        bytes += input.text.length;
        lines += input.lines;
      }
      this.#lastIptables.set(fp.family, text);
      this.#families.add(fp.family);
    }

    const bound = new Set(await netlink.boundAddresses());
    const wantBound = new Set(plan.bindAddresses);
    await netlink.changeAddresses(
      plan.bindAddresses.filter((a) => !bound.has(a)),
      [],
    );

    const diff = diffIpvs(plan.virtualServers, await ipvs.list(), (key) => this.#graceful.has(key));
    const sent = await ipvs.apply(diff.commands);
    bytes += sent.bytes;
    lines += sent.lines;
    for (const key of diff.undrain) this.#graceful.delete(key);
    for (const entry of diff.drain) this.#graceful.add(entry);

    await netlink.changeAddresses(
      [],
      [...bound].filter((a) => !wantBound.has(a)),
    );

    const servicePorts = new Set<string>();
    const owner = new Map<string, string>();
    for (const vs of this.#lastPlan?.virtualServers ?? []) owner.set(vs.key, vs.servicePort);
    for (const vs of plan.virtualServers) owner.set(vs.key, vs.servicePort);
    for (const key of diff.changedServers) {
      const sp = owner.get(key);
      if (sp !== undefined) servicePorts.add(sp);
    }
    this.#lastPlan = plan;
    this.#synced = true;
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
