/**
 * The ipvs mode's applier: brings the kernel in line with {@link planIpvs} through the seams (ipset,
 * iptables, kube-ipvs0 addresses, IPVS), diffing against what the kernel lists, and drains removed real
 * servers in the background. It decides nothing the plan decides: each step below diffs one part of the
 * plan against the kernel (or against what it applied last) and applies the difference.
 *
 * Order of a sync (as upstream): the dummy device; the ipsets (iptables rules name them); the iptables
 * rules; the VIPs that are new on kube-ipvs0; the IPVS table; VIPs no longer served come off; then the
 * UDP conntrack entries the change left stale are deleted (a pure function of the two plans:
 * udp_conntrack.ts over modes/common/udp_conntrack.ts).
 *
 * Integrity and healing: between syncs the daemon asks {@link IpvsProxier.checkIntact} (integrity.ts: the
 * first and last virtual servers and VIPs, the ipsets' entry counts, the nat jumps into KUBE-SERVICES and
 * its rule count; a few commands whatever the number of services) and repairs at once with a full sync
 * (`SyncOptions.repair`). After a sync that repaired damage (a repair, a periodic full sync that found
 * damage first, a kube-ipvs0 recreated) and after the first sync of the process, the connection-tracking
 * entries to a service that the outage left un-NATed are deleted (modes/common/heal_conntrack.ts). The
 * rule holds for IPVS, which NATs without netfilter: with net.ipv4.vs.conntrack=1 (set here) IPVS
 * rewrites a new connection's conntrack reply tuple to its real server, so an entry whose reply still
 * comes from the VIP itself is one that IPVS never handled (checked in the test guest:
 * ipvs_repair_guest_test.ts). IPVS rewrites only unconfirmed entries: a later connection from the same
 * client port that matches an outage's entry is still translated by IPVS (in the guest it worked), but
 * without the nat table's masquerade decision, which is made for new entries only.
 *
 * @module
 */

import type { SyncOptions, SyncReport } from '../../contracts/sync.ts';
import { ipsetSyncLines, type ListedIpset } from '../../kernel/ipset.ts';
import { renderRestore } from '../../kernel/iptables_restore.ts';
import { parseIptablesSave } from '../../kernel/iptables_state.ts';
import { type ListedVirtualServer, virtualServerKey } from '../../kernel/ipvs.ts';
import type { IPFamily, ProxyState, ServicePortKey, StateChange } from '../../model/types.ts';
import { type Clock, systemClock, type Timer } from '../../runner/clock.ts';
import { HealSchedule, healAndLog } from '../common/heal_conntrack.ts';
import { rewriteChainsInput } from '../common/iptables_restore_input.ts';
import {
  deleteUdpConntrack,
  describeUdpConntrackDeletion,
  staleUdpConntrack,
  type UdpConntrackDeletion,
  type UdpPlan,
} from '../common/udp_conntrack.ts';
import type { Proxier, ProxierDeps } from '../mode.ts';
import { changedServicePorts, changedVirtualServers, diffIpvs, type IpvsDiff } from './diff.ts';
import { GracefulTermination } from './graceful_termination.ts';
import { checkIpvsIntact, integrityProbes } from './integrity.ts';
import { IPVS_SETS, ipsetName } from './ipsets.ts';
import { IPVS_JUMPS } from './iptables_rules.ts';
import { familyOf, type IpvsPlan, type PlannedVirtualServer, planIpvs } from './plan.ts';
import { type IpvsSeams, realIpvsSeams } from './seams.ts';
import { applyIpvsTuning, type IpvsTuning, NO_IPVS_TUNING, withoutExcluded } from './tuning.ts';
import { ipvsUdpPlan } from './udp_conntrack.ts';

/** Options of {@link createIpvsProxier} beyond the daemon's deps. */
export interface IpvsProxierOptions {
  readonly seams?: Partial<IpvsSeams> | undefined;
  readonly clock?: Clock | undefined;
  /** How often draining real servers are checked (upstream: 1 minute). */
  readonly gracefulCheckIntervalMs?: number | undefined;
  /** `--ipvs-strict-arp`, the `--ipvs-*-timeout`s and `--ipvs-exclude-cidrs` (default: none). */
  readonly tuning?: IpvsTuning | undefined;
}

/**
 * Above this many changed virtual servers a partial sync lists the whole IPVS table once instead of each
 * changed one (one `ipvsadm` run each).
 */
export const PARTIAL_LIST_LIMIT = 64;

/**
 * The sysctls IPVS needs, as upstream sets them (conn_reuse_mode is left as is on kernels >= 5.9). The
 * net.ipv4.vs ones hold for IPv6 virtual servers too; forwarding is IPv4's alone, as upstream's (an IPv6
 * node forwards when its network setup says so: see docs/ipvs-mode.md).
 */
export const IPVS_SYSCTLS: readonly [string, number][] = [
  ['net.ipv4.vs.conntrack', 1],
  ['net.ipv4.vs.expire_nodest_conn', 1],
  ['net.ipv4.vs.expire_quiescent_template', 1],
  ['net.ipv4.ip_forward', 1],
];

/** The sysctls a family's Proxier sets: {@link IPVS_SYSCTLS}, without IPv4 forwarding for IPv6. */
function sysctlsOf(family: IPFamily): readonly [string, number][] {
  return family === 'IPv4' ? IPVS_SYSCTLS : IPVS_SYSCTLS.filter(([name]) => name.startsWith('net.ipv4.vs.'));
}

/** What a step of a sync wrote: restore input bytes and lines (or ipvsadm commands). */
interface Written {
  readonly bytes: number;
  readonly lines: number;
}

const NOTHING: Written = { bytes: 0, lines: 0 };

function sum(parts: readonly Written[]): Written {
  return parts.reduce((a, b) => ({ bytes: a.bytes + b.bytes, lines: a.lines + b.lines }), NOTHING);
}

/**
 * Creates the ipvs Proxier of the family `deps.options.ipFamily` (IPv4 when unset). It programs that
 * family's virtual servers, kube-ipvs0 addresses, ipsets and iptables rules, and leaves the other
 * family's alone (both Proxiers share the IPVS table and the dummy device: see modes/dual_stack.ts).
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
  readonly #family: IPFamily;
  readonly #seams: IpvsSeams;
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #graceful = new GracefulTermination();
  readonly #tuning: IpvsTuning;
  readonly #heal = new HealSchedule();
  /** Whether strict ARP and the timeouts were applied (once, at the first full sync, as upstream at start). */
  #tuned = false;
  /** Whether what kproxy last applied (sets, addresses, plan) is what the kernel has (see {@link #ipvsScope}). */
  #trusted = false;
  #lastSets: readonly ListedIpset[] | undefined;
  #lastBound: ReadonlySet<string> | undefined;
  /** kube-ipvs0's interface index at the last sync: another one means a new device, without our addresses. */
  #dummyIndex: number | undefined;
  /** Families a sync programmed: planned again, emptied, once no virtual server needs them. */
  #servedFamilies = new Set<IPFamily>();
  /** Per family, the rules (as restore input) it last wrote: a partial sync skips a family unchanged. */
  #lastIptables = new Map<IPFamily, string>();
  #lastPlan: IpvsPlan | undefined;
  /** The UDP service ports of the last plan applied, for the conntrack cleanup of the next sync. */
  #lastUdp: UdpPlan<ServicePortKey> | undefined;
  #timer: Timer | undefined;
  #stopped = false;
  /** Serializes syncs and graceful checks: they both read and change the IPVS table. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: ProxierDeps, seams: IpvsSeams, options: IpvsProxierOptions) {
    this.#deps = deps;
    this.#family = deps.options.ipFamily ?? 'IPv4';
    this.#seams = seams;
    this.#clock = options.clock ?? systemClock;
    this.#interval = options.gracefulCheckIntervalMs ?? 60_000;
    const tuning = options.tuning ?? NO_IPVS_TUNING;
    // Strict ARP is IPv4's (ARP); the IPv6 Proxier leaves those sysctls to the IPv4 one.
    this.#tuning = this.#family === 'IPv4' ? tuning : { ...tuning, strictARP: false };
  }

  /** Real servers currently draining (`TCP/VIP:port/RIP:port`). */
  get draining(): string[] {
    return this.#graceful.keys();
  }

  sync(state: ProxyState, change: StateChange, options?: SyncOptions): Promise<SyncReport> {
    return this.#serialized(() => this.#sync(state, change, options?.full ?? false, options?.repair));
  }

  /**
   * Whether the kernel still holds the last sync's plan, cheaply (integrity.ts): the reason it does not,
   * or undefined (also before the first successful sync and after a failed one, which the daemon retries).
   */
  async checkIntact(): Promise<string | undefined> {
    const plan = this.#lastPlan;
    if (plan === undefined || !this.#trusted) return undefined;
    return checkIpvsIntact(this.#seams, integrityProbes(plan));
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

  async #sync(
    state: ProxyState,
    change: StateChange,
    requestedFull: boolean,
    repair: string | undefined,
  ): Promise<SyncReport> {
    try {
      if (repair !== undefined) {
        this.#deps.logger.warn({ reason: repair }, 'Repairing the ipvs mode kernel state');
        this.#heal.outage();
        this.#trusted = false;
      } else if (requestedFull && this.#lastPlan !== undefined) {
        const damage = await this.#heal.checkBeforeResync(() => this.checkIntact());
        if (damage !== undefined)
          this.#deps.logger.warn(
            { reason: damage },
            'The ipvs mode kernel state was damaged: this full sync repairs it',
          );
      }
      const report = await this.#syncOnce(state, change, requestedFull);
      await this.#heal.afterSync(async () => {
        // Nothing to heal for a family without a virtual server (the IPv6 Proxier of an IPv4-only node).
        if (this.#lastPlan !== undefined && this.#lastPlan.virtualServers.length > 0)
          await healAndLog(this.#seams.conntrackTable, state, this.#family, this.#deps.logger);
      });
      return report;
    } catch (error) {
      // What kproxy last applied may now differ from the kernel: the next sync lists everything again.
      this.#trusted = false;
      throw error;
    }
  }

  async #syncOnce(state: ProxyState, change: StateChange, requestedFull: boolean): Promise<SyncReport> {
    // A dummy device that had to be (re)created (by this Proxier or the other family's) lost its
    // addresses: nothing kproxy applied can be trusted.
    const dummyIndex = await this.#seams.netlink.ensureDummy();
    // A kube-ipvs0 deleted behind kproxy's back took every VIP with it: an outage to heal after.
    if (this.#dummyIndex !== undefined && dummyIndex !== this.#dummyIndex) this.#heal.outage();
    const full = requestedFull || !this.#trusted || dummyIndex !== this.#dummyIndex;
    this.#dummyIndex = dummyIndex;
    // Partial syncs diff the sets against what kproxy last restored (upstream keeps them in memory too).
    const setsNow = full || this.#lastSets === undefined ? await this.#listSets() : this.#lastSets;
    // Sets of this family left by an earlier kproxy (before a restart) mean its rules are there too: plan
    // the family, emptied if nothing needs it, so that they are brought in line instead of left behind.
    if (setsNow.some((set) => set.name === ipsetName('KUBE-IPVS-IPS', this.#family)))
      this.#servedFamilies.add(this.#family);
    const plan = planIpvs(state, this.#deps.options, { servedFamilies: [...this.#servedFamilies] });
    for (const warning of plan.warnings) this.#deps.logger.warn(warning);
    // A full sync lists the whole table once (which also loads ip_vs, whose sysctls exist only then);
    // nothing below changes IPVS before the diff, so that listing is what the diff compares against.
    // A Proxier with no virtual server, before or now (the IPv6 one on an IPv4-only node), has nothing of
    // its family to diff after its first listing: it skips the listing of the whole (other family's) table
    // and the sysctls.
    const idle =
      this.#lastPlan?.virtualServers.length === 0 &&
      plan.virtualServers.length === 0 &&
      this.#graceful.keys().length === 0;
    const table = full ? await this.#listTableAndSetSysctls(idle) : undefined;
    const sets = await this.#syncIpsets(plan, setsNow);
    const rules = await this.#syncIptables(plan, full);
    const bound = await this.#bindNewAddresses(plan, full);
    const { diff, written } = await this.#syncVirtualServers(plan, table);
    await this.#unbindOldAddresses(plan, bound);
    const servicePorts = changedServicePorts(diff.changedServers, this.#lastPlan, plan);
    this.#lastPlan = plan;
    this.#trusted = true;
    const udp = ipvsUdpPlan(plan);
    await this.#deleteStaleConntrack(staleUdpConntrack(this.#lastUdp, udp));
    this.#lastUdp = udp;
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
    const total = sum([sets, rules, written]);
    return {
      kind: full ? 'full' : 'partial',
      servicePortsWritten: servicePorts.size,
      restoreBytes: total.bytes,
      restoreLines: total.lines,
    };
  }

  /**
   * The whole IPVS table, listed once for a full sync; the sysctls are set after (see #syncOnce), and, at
   * the first one, the ipvs node settings (tuning.ts). A strict-ARP sysctl that cannot be set fails the
   * sync, and the next sync tries again.
   */
  async #listTableAndSetSysctls(idle: boolean): Promise<ListedVirtualServer[]> {
    // An idle Proxier serves nothing the sysctls govern; its first (non-idle) full sync set them.
    if (idle) return [];
    const table = this.#ownFamily(await this.#seams.ipvs.list());
    for (const [name, value] of sysctlsOf(this.#family)) await this.#seams.netlink.setSysctl(name, value);
    if (!this.#tuned) {
      await applyIpvsTuning(this.#tuning, this.#seams, this.#deps.logger);
      this.#tuned = true;
    }
    return table;
  }

  /**
   * The sets as the kernel has them: all of them for IPv4 (one listing, as before dual-stack), only the
   * family's own for IPv6 (one small listing per set), so that the IPv6 Proxier of a node whose Services
   * are mostly IPv4 does not read every IPv4 entry at each full sync.
   */
  #listSets(): Promise<ListedIpset[]> {
    return this.#family === 'IPv4'
      ? this.#seams.ipset.list()
      : this.#seams.ipset.list(IPVS_SETS.map((s) => ipsetName(s.name, this.#family)));
  }

  /** The virtual servers of this Proxier's family: the other family's Proxier owns the rest of the table. */
  #ownFamily(table: ListedVirtualServer[]): ListedVirtualServer[] {
    return table.filter((vs) => familyOf(vs.address) === this.#family);
  }

  /** Brings every planned set in line in one `ipset restore` (the other family's sets are not planned, so left alone). */
  async #syncIpsets(plan: IpvsPlan, setsNow: readonly ListedIpset[]): Promise<Written> {
    const specs = plan.families.flatMap((f) => f.ipsets);
    this.#lastSets = undefined;
    const setLines = ipsetSyncLines(specs, setsNow);
    let written = NOTHING;
    if (setLines.length > 0) {
      const script = `${setLines.join('\n')}\n`;
      await this.#seams.ipset.restore(script);
      written = { bytes: Buffer.byteLength(script), lines: setLines.length };
    }
    this.#lastSets = specs;
    return written;
  }

  /** Rewrites the chains of each family whose rules changed since the last sync (all of them when full). */
  async #syncIptables(plan: IpvsPlan, full: boolean): Promise<Written> {
    const parts: Written[] = [];
    for (const fp of plan.families) {
      const text = renderRestore(fp.tables);
      if (!full && this.#lastIptables.get(fp.family) === text) continue;
      this.#lastIptables.delete(fp.family);
      const ipt = await this.#seams.iptables(fp.family);
      for (const { table: name, chains } of fp.tables) {
        // A full sync also (re)inserts the jumps from the built-in chains, so it reads what is there.
        const existing = full ? parseIptablesSave(await ipt.save(name)).get(name) : undefined;
        const input = rewriteChainsInput(name, chains, full ? IPVS_JUMPS : [], existing);
        if (input === undefined) continue;
        await ipt.restore(name, input.text, { noflush: true });
        parts.push({ bytes: input.text.length, lines: input.lines });
      }
      this.#lastIptables.set(fp.family, text);
      this.#servedFamilies.add(fp.family);
    }
    return sum(parts);
  }

  /**
   * Binds the planned VIPs that kube-ipvs0 lacks, before IPVS serves them.
   *
   * @returns the addresses bound before this sync
   */
  async #bindNewAddresses(plan: IpvsPlan, full: boolean): Promise<ReadonlySet<string>> {
    const { netlink } = this.#seams;
    // Partial syncs trust the addresses kproxy last left on kube-ipvs0 (the device was not recreated).
    const bound =
      full || this.#lastBound === undefined
        ? new Set(await netlink.boundAddresses(this.#family))
        : this.#lastBound;
    this.#lastBound = undefined;
    await netlink.changeAddresses(
      plan.bindAddresses.filter((a) => !bound.has(a)),
      [],
    );
    return bound;
  }

  /** Unbinds the VIPs no virtual server serves any more, once IPVS no longer serves them. */
  async #unbindOldAddresses(plan: IpvsPlan, bound: ReadonlySet<string>): Promise<void> {
    const wantBound = new Set(plan.bindAddresses);
    await this.#seams.netlink.changeAddresses(
      [],
      [...bound].filter((a) => !wantBound.has(a)),
    );
    this.#lastBound = wantBound;
  }

  /** Diffs the IPVS table against the plan, applies the commands and hands drained real servers over. */
  async #syncVirtualServers(
    plan: IpvsPlan,
    table: ListedVirtualServer[] | undefined,
  ): Promise<{ diff: IpvsDiff; written: Written }> {
    const scope = await this.#ipvsScope(plan, table);
    const { desired } = scope;
    // Virtual servers in --ipvs-exclude-cidrs belong to someone else: never deleted unless planned.
    const planned = new Set(plan.virtualServers.map((vs) => vs.key));
    const listed = withoutExcluded(scope.listed, this.#tuning.excludeCIDRs, (vs) =>
      planned.has(virtualServerKey(vs)),
    );
    const diff = diffIpvs(desired, listed, (key) => this.#graceful.has(key));
    const written = await this.#seams.ipvs.apply(diff.commands);
    for (const key of diff.undrain) this.#graceful.delete(key);
    for (const entry of diff.drain) this.#graceful.add(entry);
    return { diff, written };
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
      return {
        desired: plan.virtualServers,
        listed: table ?? this.#ownFamily(await this.#seams.ipvs.list()),
      };
    const changed = changedVirtualServers(this.#lastPlan, plan);
    if (changed.size > PARTIAL_LIST_LIMIT)
      return { desired: plan.virtualServers, listed: this.#ownFamily(await this.#seams.ipvs.list()) };
    const listed: ListedVirtualServer[] = [];
    for (const id of changed.values()) {
      const vs = await this.#seams.ipvs.listService(id);
      if (vs !== undefined) listed.push(vs);
    }
    return { desired: plan.virtualServers.filter((vs) => changed.has(vs.key)), listed };
  }

  /** Deletes UDP conntrack entries the new table would not create any more (failures are logged). */
  async #deleteStaleConntrack(deletions: readonly UdpConntrackDeletion[]): Promise<void> {
    for (const deletion of deletions) {
      try {
        await deleteUdpConntrack(this.#seams.conntrack, deletion);
      } catch (error) {
        this.#deps.logger.warn(
          { err: error, entries: describeUdpConntrackDeletion(deletion) },
          'Failed to delete stale UDP conntrack entries',
        );
      }
    }
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
