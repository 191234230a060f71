/**
 * The nftables mode's applier. Every sync is one `nft -f` transaction: nft commits all of it or nothing,
 * so a refused sync leaves the previous ruleset in place.
 *
 * - **Full sync** (first sync, `options.full` from the daemon's `--iptables-sync-period`, after any
 *   failure, when the canary is gone): the whole plan, and the stale objects removed (sync_input.ts).
 *   What the table holds is known from the plan applied last; after a start, a failure or a lost
 *   canary, kproxy lists the table once instead (as upstream does), to find what an earlier run left.
 * - **Partial sync** (otherwise): only service ports named in the change are re-planned, and only the
 *   difference from the applied plan is written: a one-endpoint change is a few element lines.
 * - **Failure**: logged with the line nft refused and counted (`..._nftables_sync_failures_total`). A
 *   refused partial sync is retried at once as a full one (as the iptables mode does); a refused full
 *   sync fails the sync, the next one is full, and the daemon's runner retries.
 * - **Canary**: the empty `canary` set. A partial script starts by flushing it, so that nft refuses the
 *   transaction when someone deleted or replaced the table; the sync is then full. When there is nothing
 *   to write, the set is listed instead (a few milliseconds whatever the size of the table).
 * - **Stale chains** are flushed in the sync that drops them and deleted in a later, separate
 *   transaction once a second has passed, as upstream (kernels before 6.2 release a chain that a removed
 *   map element pointed at only after a while); a failed cleanup is counted
 *   (`..._nftables_cleanup_failures_total`) and retried.
 * - **UDP conntrack**: after a successful sync, the entries the plan change left stale are deleted (a pure
 *   function of the two plans: modes/common/udp_conntrack.ts).
 * - **Integrity and healing**: between syncs the daemon asks {@link NftablesProxier.checkIntact} (the
 *   canary, and the rule counts of the chains every packet to a service goes through); after a sync that
 *   repaired damage, a lost canary or the first sync of the process, connection-tracking entries that the
 *   outage left without NAT are deleted (modes/common/heal_conntrack.ts).
 *
 * @module
 */
import type { Logger } from 'pino';
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { SyncOptions, SyncReport } from '../../contracts/sync.ts';
import { type Conntrack, createConntrack } from '../../kernel/conntrack.ts';
import { type ConntrackTable, createConntrackTable } from '../../kernel/conntrack_table.ts';
import { createNft, type Nft, NftTransactionError } from '../../kernel/nft.ts';
import type { ProxyMetrics } from '../../metrics/proxy_metrics.ts';
import type { IPFamily, ProxyState, StateChange } from '../../model/types.ts';
import { HealSchedule, healAndLog } from '../common/heal_conntrack.ts';
import {
  deleteUdpConntrack,
  describeUdpConntrackDeletion,
  staleUdpConntrack,
  type UdpConntrackDeletion,
} from '../common/udp_conntrack.ts';
import type { Proxier, ProxierDeps } from '../mode.ts';
import { NFT_NAMES, NFT_TABLE } from './names.ts';
import { type NftablesPlan, nftFamilyOf, planNftables } from './plan.ts';
import type { NftFamily } from './ruleset.ts';
import {
  cleanupScript,
  fullSyncScript,
  partialSyncScript,
  type StaleChain,
  type SyncScript,
  type TableObjects,
  tableObjectsOfListing,
  tableObjectsOfPlan,
} from './sync_input.ts';

/** Seams a test (or the lab) may substitute. */
export interface NftablesProxierSeams {
  readonly nft?: Nft | undefined;
  readonly conntrack?: Conntrack | undefined;
  /** The conntrack table, for healing after an outage. */
  readonly conntrackTable?: ConntrackTable | undefined;
  /** Milliseconds, for the age of stale chains (default `Date.now`). */
  readonly now?: (() => number) | undefined;
}

/** What a stale base chain's hook is taken to be (it does not matter: see #tableObjects). */
const STALE_BASE_CHAIN = { type: 'filter', hook: 'input', priority: 0 } as const;

/** How long a flushed stale chain waits before it is deleted (upstream's second). */
export const STALE_CHAIN_DELAY_MS = 1000;

/**
 * The chains {@link NftablesProxier.checkIntact} counts the rules of: the hooks into the service dispatch
 * and the dispatch itself. A flush of the table (or of one of them) empties them; listing each costs what
 * it holds (a few rules), unlike a listing of the table (every endpoint element).
 */
const WATCHED_CHAINS = ['nat-prerouting', 'nat-output', 'services'] as const;

/**
 * The nftables Proxier of one IP family: `deps.options.ipFamily` IPv4 (or unset) owns table `ip
 * kube-proxy`, IPv6 owns `ip6 kube-proxy`; neither ever touches the other's table.
 */
export class NftablesProxier implements Proxier {
  readonly #options: PlanOptions;
  readonly #family: NftFamily;
  readonly #log: Logger;
  readonly #nft: Nft;
  readonly #conntrack: Conntrack;
  readonly #conntrackTable: ConntrackTable;
  readonly #ipFamily: IPFamily;
  readonly #heal = new HealSchedule();
  readonly #metrics: ProxyMetrics | undefined;
  readonly #now: () => number;
  #applied: NftablesPlan | undefined;
  #needFull = true;
  /** Whether {@link #applied} is what the table holds (else the next full sync lists the table first). */
  #tableKnown = false;
  /** Chains flushed by a sync and not yet deleted, with when they were flushed. */
  readonly #staleChains = new Map<string, { readonly base: boolean; readonly since: number }>();

  /**
   * @param deps plan options, exec, logger and metrics from the daemon
   * @param seams substitutes for the nft and conntrack seams and the clock
   */
  constructor(deps: ProxierDeps, seams: NftablesProxierSeams = {}) {
    this.#options = deps.options;
    this.#family = nftFamilyOf(deps.options);
    this.#log = deps.logger;
    this.#metrics = deps.metrics;
    this.#nft = seams.nft ?? createNft(deps.exec);
    this.#conntrack = seams.conntrack ?? createConntrack(deps.exec, { family: deps.options.ipFamily });
    this.#conntrackTable = seams.conntrackTable ?? createConntrackTable(deps.exec);
    this.#ipFamily = deps.options.ipFamily ?? 'IPv4';
    this.#now = seams.now ?? Date.now;
  }

  async checkIntact(): Promise<string | undefined> {
    const applied = this.#applied;
    if (applied === undefined) return undefined;
    const table = `${this.#family} ${NFT_TABLE}`;
    if (!(await this.#canaryPresent())) return `the nftables table ${table} (or its canary set) is gone`;
    for (const name of WATCHED_CHAINS) {
      const chain = [...applied.baseChains, ...applied.chains].find((c) => c.name === name);
      if (chain === undefined || chain.rules.length === 0) continue;
      const rules = await this.#nft.chainRuleCount(this.#family, NFT_TABLE, name);
      if (rules === undefined) return `chain ${name} of ${table} is gone`;
      if (rules < chain.rules.length)
        return `chain ${name} of ${table} holds ${rules} of its ${chain.rules.length} rules`;
    }
    return undefined;
  }

  /** The plan the kernel holds after the last successful sync. */
  get applied(): NftablesPlan | undefined {
    return this.#applied;
  }

  /** Chains flushed and waiting to be deleted. */
  get staleChains(): readonly string[] {
    return [...this.#staleChains.keys()];
  }

  async sync(state: ProxyState, change: StateChange, options?: SyncOptions): Promise<SyncReport> {
    await this.#deleteStaleChains();
    const previous = this.#applied;
    const repair = options?.repair;
    if (repair !== undefined) {
      this.#log.warn({ reason: repair }, 'Repairing the nftables table');
      this.#tableKnown = false;
      this.#heal.outage();
    }
    const full = (options?.full ?? false) || this.#needFull || previous === undefined || repair !== undefined;
    if (full && previous !== undefined) {
      const damage = await this.#heal.checkBeforeResync(() => this.checkIntact());
      if (damage !== undefined) {
        this.#log.warn({ reason: damage }, 'The nftables table was damaged: this full sync repairs it');
        this.#tableKnown = false;
      }
    }
    const partial =
      full || previous === undefined ? undefined : await this.#partialSync(previous, state, change);
    const { plan, input } = partial ?? (await this.#fullSync(state));
    for (const c of input.staleChains) this.#staleChains.set(c.name, { base: c.base, since: this.#now() });
    // A chain flushed as stale and planned again since must stay (rare: only while some wait for deletion).
    if (this.#staleChains.size > 0) {
      for (const c of plan.chains) this.#staleChains.delete(c.name);
      for (const sp of plan.servicePorts.values())
        for (const c of sp.chains) this.#staleChains.delete(c.name);
    }
    if (partial === undefined) for (const w of plan.warnings) this.#log.warn(w);
    // A partial sync re-planned only the changed service ports: only they can call for deletions.
    const keys = partial === undefined ? undefined : change.changed;
    await this.#deleteStaleConntrack(staleUdpConntrack(previous, plan, keys));
    this.#applied = plan;
    this.#tableKnown = true;
    this.#needFull = false;
    await this.#heal.afterSync(() => healAndLog(this.#conntrackTable, state, this.#ipFamily, this.#log));
    return {
      kind: partial === undefined ? 'full' : 'partial',
      servicePortsWritten: input.servicePortsWritten,
      restoreBytes: input.text.length,
      restoreLines: input.lines,
    };
  }

  /**
   * Re-plans what changed and applies the difference; undefined when the sync must be full instead: the
   * canary is gone, the flags changed, or nft refused the transaction (then logged and counted).
   */
  async #partialSync(
    previous: NftablesPlan,
    state: ProxyState,
    change: StateChange,
  ): Promise<{ plan: NftablesPlan; input: SyncScript } | undefined> {
    const plan = planNftables(state, this.#options, { previous, change });
    // Other flags (the daemon never changes them; a test may) leave nothing to reuse: write everything.
    if (plan.context !== previous.context) return undefined;
    const input = partialSyncScript(previous, plan);
    if (input.lines === 0) {
      // No transaction to carry the canary check (sync_input.ts): look at the canary itself.
      if (await this.#canaryPresent()) return { plan, input };
      this.#canaryGone();
      return undefined;
    }
    try {
      await this.#nft.apply(input.text);
      return { plan, input };
    } catch (error) {
      if (error instanceof NftTransactionError && error.line === 1) {
        this.#canaryGone();
        return undefined;
      }
      this.#failed(error, 'partial');
      // Whatever made nft refuse (an object changed behind our back?), the listing of a full sync sees it.
      this.#tableKnown = false;
      this.#log.warn('Retrying as a full sync');
      return undefined;
    }
  }

  async #fullSync(state: ProxyState): Promise<{ plan: NftablesPlan; input: SyncScript }> {
    const plan = planNftables(state, this.#options);
    const input = fullSyncScript(plan, await this.#tableObjects());
    try {
      await this.#nft.apply(input.text);
    } catch (error) {
      this.#failed(error, 'full');
      this.#needFull = true;
      // nft commits nothing of a refused script; an nft that failed otherwise may leave us unsure.
      if (!(error instanceof NftTransactionError)) this.#tableKnown = false;
      throw error;
    }
    return { plan, input };
  }

  #canaryGone(): void {
    this.#log.warn(
      'The nftables canary set is gone (table deleted or replaced behind our back?): syncing fully',
    );
    this.#tableKnown = false;
    this.#heal.outage();
  }

  /** Logs a refused (or failed) transaction with the line nft named, and counts it. */
  #failed(error: unknown, kind: SyncReport['kind']): void {
    this.#metrics?.nftablesSyncFailure();
    this.#log.error(
      error instanceof NftTransactionError
        ? { err: error, kind, line: error.line, lineText: error.lineText, reason: error.reason }
        : { err: error, kind },
      kind === 'full'
        ? 'nftables sync failed: the previous ruleset stays in place, the next sync is full'
        : 'nftables partial sync failed: the previous ruleset stays in place',
    );
  }

  async stop(): Promise<void> {
    // Nothing runs between syncs; the table stays until cleanup.
  }

  /** What the table holds: the applied plan and the chains waiting for deletion, or a listing. */
  async #tableObjects(): Promise<TableObjects | undefined> {
    if (this.#tableKnown && this.#applied !== undefined) {
      const known = tableObjectsOfPlan(this.#applied);
      const chains = new Map(known.chains);
      for (const [name, c] of this.#staleChains) {
        // Only whether a stale chain is a base chain matters (it is flushed, never declared again).
        if (!chains.has(name)) chains.set(name, c.base ? STALE_BASE_CHAIN : undefined);
      }
      return { chains, containers: known.containers };
    }
    const listed = await this.#nft.listTable(this.#family, NFT_TABLE);
    if (listed !== undefined) {
      this.#log.info(
        { chains: listed.chains.size, setsAndMaps: listed.containers.size },
        'Found an nftables table from an earlier run: syncing over it',
      );
    }
    // A listing shows every chain; none is waiting for deletion apart from what it shows.
    this.#staleChains.clear();
    return tableObjectsOfListing(listed);
  }

  async #canaryPresent(): Promise<boolean> {
    return (await this.#nft.listContainer(this.#family, NFT_TABLE, 'set', NFT_NAMES.canary)) !== undefined;
  }

  /** Deletes the chains flushed at least a second ago, in their own transaction (failures are counted). */
  async #deleteStaleChains(): Promise<void> {
    const due: StaleChain[] = [];
    const now = this.#now();
    for (const [name, c] of this.#staleChains) {
      if (now - c.since >= STALE_CHAIN_DELAY_MS) due.push({ name, base: c.base });
    }
    if (due.length === 0) return;
    try {
      await this.#nft.apply(cleanupScript(this.#family, NFT_TABLE, due).text);
      for (const c of due) this.#staleChains.delete(c.name);
      this.#log.info({ chains: due.length }, 'Deleted stale nftables chains');
    } catch (error) {
      // They stay listed and are tried again at the next sync.
      this.#metrics?.nftablesCleanupFailure();
      this.#log.warn(
        { err: error, chains: due.length },
        'Failed to delete stale nftables chains: will retry',
      );
    }
  }

  /** Deletes UDP conntrack entries the new rules would not create any more (failures are logged). */
  async #deleteStaleConntrack(deletions: readonly UdpConntrackDeletion[]): Promise<void> {
    for (const deletion of deletions) {
      try {
        await deleteUdpConntrack(this.#conntrack, deletion);
      } catch (error) {
        this.#log.warn(
          { err: error, entries: describeUdpConntrackDeletion(deletion) },
          'Failed to delete stale UDP conntrack entries',
        );
      }
    }
  }
}
