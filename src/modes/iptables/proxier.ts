/**
 * The iptables mode's applier. One `iptables-restore --noflush` per table and sync, never rule by rule
 * (except a full sync of a big nat table with iptables-nft, which goes in a few atomic batches). One
 * Proxier serves one IP family (`options.ipFamily`, as upstream runs one proxier per family): the IPv6
 * one plans the IPv6 rules and writes them with ip6tables-restore, keeps its own canary in ip6tables'
 * mangle table and deletes IPv6 conntrack entries (`conntrack -f ipv6`).
 *
 * - **Full sync** (first sync, `options.full` from the daemon's `--iptables-sync-period`, after any
 *   failure, when the canary is gone, when large-cluster mode flips): the whole plan is written; stale
 *   per-service chains from an earlier run are deleted; missing jumps from built-in chains are inserted;
 *   then the canary KUBE-PROXY-CANARY is (re)created in mangle.
 * - **Partial sync** (otherwise): only service ports named in the change are re-planned, and only the
 *   difference from the applied plan is written (see sync_input.ts). A failed partial restore is
 *   retried at once as a full sync.
 * - **Canary**: before a partial sync the mangle canary is checked (mangle is tiny, so the check is
 *   cheap even on legacy at 10 000 services); if someone flushed iptables, the sync is full.
 * - **UDP conntrack**: after a successful sync, the entries the plan change left stale are deleted (which
 *   ones is a pure function of the two plans: conntrack.ts).
 * - **Integrity and healing**: between syncs the daemon asks {@link IptablesProxier.checkIntact} (the
 *   canary, the nat jumps into KUBE-SERVICES, and KUBE-SERVICES's last planned rule: a flushed chain or
 *   table is noticed at once, not at the next periodic resync). After a sync that repaired damage, a lost
 *   canary or the first sync of the process, connection-tracking entries that the outage left without NAT
 *   are deleted (modes/common/heal_conntrack.ts), so that no later connection reuses one.
 *
 * @module
 */
import type { Logger } from 'pino';
import type { PlanOptions } from '../../contracts/plan_options.ts';
import type { SyncOptions, SyncReport } from '../../contracts/sync.ts';
import { type Conntrack, createConntrack } from '../../kernel/conntrack.ts';
import { type ConntrackTable, createConntrackTable } from '../../kernel/conntrack_table.ts';
import { createIptables, type Iptables } from '../../kernel/iptables.ts';
import { parseIptablesSave } from '../../kernel/iptables_state.ts';
import type { IPFamily, ProxyState, StateChange } from '../../model/types.ts';
import { HealSchedule, healAndLog } from '../common/heal_conntrack.ts';
import { KUBE_PROXY_CANARY, KUBE_SERVICES } from '../common/iptables_base_chains.ts';
import type { TableInput } from '../common/iptables_restore_input.ts';
import type { Proxier, ProxierDeps } from '../mode.ts';
import { describeUdpConntrackDeletion, staleUdpConntrack, type UdpConntrackDeletion } from './conntrack.ts';
import { type IptablesPlan, planIptables } from './plan.ts';
import { fullSyncInput, fullSyncInputs, partialSyncInput } from './sync_input.ts';

/** Seams a test (or the lab) may substitute. */
export interface IptablesProxierSeams {
  readonly iptables?: Iptables | undefined;
  readonly conntrack?: Conntrack | undefined;
  /** The conntrack table, for healing after an outage. */
  readonly conntrackTable?: ConntrackTable | undefined;
}

const CANARY_INPUT = `*mangle\n:${KUBE_PROXY_CANARY} - [0:0]\nCOMMIT\n`;

/** With iptables-nft, a full sync of the nat table goes in transactions of about this many rules. */
export const NFT_BATCH_RULES = 3000;

/** The iptables Proxier. */
export class IptablesProxier implements Proxier {
  readonly #options: PlanOptions;
  readonly #log: Logger;
  readonly #iptables: () => Promise<Iptables>;
  readonly #conntrack: Conntrack;
  readonly #conntrackTable: ConntrackTable;
  readonly #family: IPFamily;
  readonly #heal = new HealSchedule();
  #applied: IptablesPlan | undefined;
  #needFull = true;

  /**
   * @param deps plan options, exec, logger and backend from the daemon
   * @param seams substitutes for the iptables and conntrack seams
   */
  constructor(deps: ProxierDeps, seams: IptablesProxierSeams = {}) {
    this.#options = deps.options;
    this.#log = deps.logger;
    // One Proxier per family (modes/dual_stack.ts): IPv6 goes through ip6tables and `conntrack -f ipv6`.
    const family = deps.options.ipFamily ?? 'IPv4';
    let resolved: Promise<Iptables> | undefined;
    const given = seams.iptables;
    this.#iptables = () => {
      resolved ??=
        given !== undefined
          ? Promise.resolve(given)
          : createIptables(deps.exec, deps.iptablesBackend, { family });
      return resolved;
    };
    this.#conntrack = seams.conntrack ?? createConntrack(deps.exec, { family });
    this.#conntrackTable = seams.conntrackTable ?? createConntrackTable(deps.exec);
    this.#family = family;
  }

  async checkIntact(): Promise<string | undefined> {
    const applied = this.#applied;
    if (applied === undefined) return undefined;
    const ipt = await this.#iptables();
    if (!(await ipt.chainExists('mangle', KUBE_PROXY_CANARY))) {
      return `the canary chain ${KUBE_PROXY_CANARY} (mangle) is gone`;
    }
    for (const chain of ['PREROUTING', 'OUTPUT']) {
      const rules = await ipt.listRules('nat', chain);
      if (!rules?.some((r) => r.endsWith(`-j ${KUBE_SERVICES}`)))
        return `nat ${chain} no longer jumps to ${KUBE_SERVICES}`;
    }
    const planned =
      applied.tables.find((t) => t.table === 'nat')?.chains.find((c) => c.name === KUBE_SERVICES)?.rules
        .length ?? 0;
    // Rule N exists only while the chain holds at least N rules: one line to read, whatever the size.
    if (planned > 0 && (await ipt.listRules('nat', KUBE_SERVICES, planned)) === undefined) {
      return `nat ${KUBE_SERVICES} holds fewer than its ${planned} rules (flushed?)`;
    }
    return undefined;
  }

  /** Makes the next sync a full one (e.g. the daemon's periodic resync). */
  requestFullSync(): void {
    this.#needFull = true;
  }

  /** The plan the kernel holds after the last successful sync. */
  get applied(): IptablesPlan | undefined {
    return this.#applied;
  }

  async sync(state: ProxyState, change: StateChange, options?: SyncOptions): Promise<SyncReport> {
    const ipt = await this.#iptables();
    const previous = this.#applied;
    const repair = options?.repair;
    if (repair !== undefined) {
      this.#log.warn({ reason: repair }, 'Repairing the iptables rules');
      this.#heal.outage();
    }
    let full = (options?.full ?? false) || this.#needFull || previous === undefined || repair !== undefined;
    if (!full && !(await ipt.chainExists('mangle', KUBE_PROXY_CANARY))) {
      this.#log.warn('The iptables canary chain is gone (rules flushed behind our back?): syncing fully');
      full = true;
      this.#heal.outage();
    } else if (full && previous !== undefined) {
      const damage = await this.#heal.checkBeforeResync(() => this.checkIntact());
      if (damage !== undefined)
        this.#log.warn({ reason: damage }, 'The iptables rules were damaged: this full sync repairs them');
    }
    let plan: IptablesPlan;
    let report: SyncReport;
    if (!full && previous !== undefined) {
      plan = planIptables(state, this.#options, { previous, change });
      if (plan.largeClusterMode !== previous.largeClusterMode) full = true;
    } else {
      plan = planIptables(state, this.#options);
    }
    try {
      if (!full && previous !== undefined) {
        try {
          report = await this.#partialSync(ipt, previous, plan);
        } catch (error) {
          this.#log.warn({ err: error }, 'Partial iptables sync failed: retrying as a full sync');
          plan = planIptables(state, this.#options);
          report = await this.#fullSync(ipt, plan);
        }
      } else {
        report = await this.#fullSync(ipt, plan);
      }
    } catch (error) {
      this.#needFull = true;
      throw error;
    }
    if (report.kind === 'full') for (const w of plan.warnings) this.#log.warn(w);
    await this.#deleteStaleConntrack(staleUdpConntrack(previous, plan));
    this.#applied = plan;
    this.#needFull = false;
    await this.#heal.afterSync(() => healAndLog(this.#conntrackTable, state, this.#family, this.#log));
    return report;
  }

  async stop(): Promise<void> {
    // Nothing runs between syncs; kernel rules stay until cleanup.
  }

  async #fullSync(ipt: Iptables, plan: IptablesPlan): Promise<SyncReport> {
    // Until this sync succeeds the kernel holds an unknown mix: force the next one full as well.
    this.#needFull = true;
    const inputs: TableInput[] = [];
    for (const table of ['filter', 'nat'] as const) {
      const existing = parseIptablesSave(await ipt.save(table)).get(table);
      if (table === 'nat' && ipt.backend === 'nft')
        inputs.push(...fullSyncInputs(plan, table, existing, NFT_BATCH_RULES));
      else inputs.push(fullSyncInput(plan, table, existing));
    }
    for (const input of inputs) await ipt.restore(input.table, input.text, { noflush: true });
    await ipt.restore('mangle', CANARY_INPUT, { noflush: true });
    return {
      kind: 'full',
      servicePortsWritten: plan.servicePorts.size,
      restoreBytes: inputs.reduce((n, i) => n + i.text.length, CANARY_INPUT.length),
      restoreLines: inputs.reduce((n, i) => n + i.lines, 3),
    };
  }

  async #partialSync(ipt: Iptables, applied: IptablesPlan, plan: IptablesPlan): Promise<SyncReport> {
    let bytes = 0;
    let lines = 0;
    for (const table of ['filter', 'nat'] as const) {
      const input = partialSyncInput(applied, plan, table);
      if (input === undefined) continue;
      await ipt.restore(table, input.text, { noflush: true });
      bytes += input.text.length;
      lines += input.lines;
    }
    let written = 0;
    for (const [key, rules] of plan.servicePorts) if (applied.servicePorts.get(key) !== rules) written++;
    for (const key of applied.servicePorts.keys()) if (!plan.servicePorts.has(key)) written++;
    return { kind: 'partial', servicePortsWritten: written, restoreBytes: bytes, restoreLines: lines };
  }

  /** Deletes UDP conntrack entries the new rules would not create any more (failures are logged). */
  async #deleteStaleConntrack(deletions: readonly UdpConntrackDeletion[]): Promise<void> {
    for (const deletion of deletions) {
      try {
        await this.#deleteConntrack(deletion);
      } catch (error) {
        this.#log.warn(
          { err: error, entries: describeUdpConntrackDeletion(deletion) },
          'Failed to delete stale UDP conntrack entries',
        );
      }
    }
  }

  #deleteConntrack(deletion: UdpConntrackDeletion): Promise<void> {
    const ct = this.#conntrack;
    switch (deletion.kind) {
      case 'serviceIP':
        return ct.deleteUdpToServiceIP(deletion.ip);
      case 'nodePort':
        return ct.deleteUdpToNodePort(deletion.port);
      case 'serviceIPEndpoint':
        return ct.deleteUdpServiceNat(deletion.ip, deletion.endpointIP);
      case 'nodePortEndpoint':
        return ct.deleteUdpNodePortNat(deletion.port, deletion.endpointIP);
      default: {
        const never: never = deletion;
        throw new TypeError(`Unknown conntrack deletion: ${JSON.stringify(never)}`);
      }
    }
  }
}
