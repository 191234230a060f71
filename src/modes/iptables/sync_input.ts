/**
 * The restore input of a sync, per table, as pure functions of plans (and, for a full sync, of what
 * iptables-save shows):
 *
 * - full: every planned chain declared (created or flushed) and written, the canary declared, stale
 *   per-service chains from an earlier run deleted, missing jumps from built-in chains inserted;
 * - partial: only the difference between the applied plan and the new one: chains that changed are
 *   flushed and rewritten, chains that went away are deleted, and the big shared chains (KUBE-SERVICES,
 *   KUBE-NODEPORTS, ...) get `-D`/`-I` edits instead of a rewrite when that is smaller, so that the input
 *   for a one-endpoint change stays a few lines at 10 000 services.
 *
 * The builder of the lines is shared with the ipvs mode (common/iptables_restore_input.ts).
 *
 * @module
 */
import type { ChainRules, IptablesTable, TableRules } from '../../kernel/iptables_restore.ts';
import type { TableState } from '../../kernel/iptables_state.ts';
import { KUBE_PROXY_CANARY } from '../common/iptables_base_chains.ts';
import { type TableInput, TableInputBuilder } from '../common/iptables_restore_input.ts';
import { isServiceChain } from './chain_names.ts';
import type { IptablesPlan } from './plan.ts';

function tableOf(plan: IptablesPlan, table: IptablesTable): TableRules | undefined {
  return plan.tables.find((t) => t.table === table);
}

/**
 * The full-sync input for one table.
 *
 * @param plan the plan to apply
 * @param table filter or nat
 * @param existing that table as iptables-save shows it now (undefined when it does not exist)
 * @returns restore input for that table
 * @example fullSyncInput(plan, 'nat', parseIptablesSave(await ipt.save('nat')).get('nat'))
 */
export function fullSyncInput(
  plan: IptablesPlan,
  table: 'filter' | 'nat',
  existing: TableState | undefined,
): TableInput {
  const planned = tableOf(plan, table)?.chains ?? [];
  return finalInput(plan, table, existing, planned, new Set(planned.map((c) => c.name)));
}

/** The one (or last) transaction of a full sync: these chains, the canary, stale chains, the jumps. */
function finalInput(
  plan: IptablesPlan,
  table: 'filter' | 'nat',
  existing: TableState | undefined,
  chains: readonly ChainRules[],
  names: ReadonlySet<string>,
): TableInput {
  const lines = new TableInputBuilder();
  for (const c of chains) lines.rewrite(c);
  lines.decl.push(`:${KUBE_PROXY_CANARY} - [0:0]`);
  if (existing !== undefined) {
    for (const name of existing.keys()) {
      if (isServiceChain(name) && !names.has(name)) {
        lines.decl.push(`:${name} - [0:0]`);
        lines.drop.push(`-X ${name}`);
      }
    }
  }
  lines.ensureJumps(plan.jumps, table, existing);
  return lines.toInput(table)!;
}

/** Chains shorter than this are rewritten rather than edited. */
const EDIT_MIN_RULES = 64;

const SERVICE_JUMP = /-[jg] KUBE-(SVC|SVL|EXT|FW|SEP)-/;

/**
 * The full-sync input for one table in several transactions of about `batchRules` rules each: first the
 * fixed chains that per-service chains jump to (KUBE-MARK-MASQ, ...), then the per-service chains, whole
 * service ports at a time, then the chains that jump to them (KUBE-SERVICES, KUBE-NODEPORTS) with the
 * canary, the stale chains and the jumps. Every transaction leaves a working ruleset: a service port's
 * chains are replaced together, and KUBE-SERVICES only points at chains that already exist. Worth it for
 * iptables-nft, whose cost per transaction grows faster than linearly with its size (10k services × 10
 * endpoints: 10 s in one transaction); iptables-legacy replaces the whole table on every commit, so
 * there one transaction is best.
 *
 * @param plan the plan to apply
 * @param table filter or nat
 * @param existing that table as iptables-save shows it now
 * @param batchRules the size of a transaction, in rules
 * @returns the transactions, in order
 * @example for (const i of fullSyncInputs(plan, 'nat', existing, 5000)) await ipt.restore('nat', i.text, { noflush: true })
 */
export function fullSyncInputs(
  plan: IptablesPlan,
  table: 'filter' | 'nat',
  existing: TableState | undefined,
  batchRules: number,
): TableInput[] {
  const planned = tableOf(plan, table)?.chains ?? [];
  const names = new Set(planned.map((c) => c.name));
  const fixed = planned.filter((c) => !isServiceChain(c.name));
  const first = fixed.filter((c) => !c.rules.some((r) => SERVICE_JUMP.test(r)));
  const last = fixed.filter((c) => !first.includes(c));
  const out: TableInput[] = [];
  const head = new TableInputBuilder();
  for (const c of first) head.rewrite(c);
  const headInput = head.toInput(table);
  if (headInput !== undefined) out.push(headInput);
  if (table === 'nat') {
    let batch = new TableInputBuilder();
    let size = 0;
    for (const sp of plan.servicePorts.values()) {
      for (const c of sp.natChains) {
        batch.rewrite(c);
        size += c.rules.length + 1;
      }
      if (size >= batchRules) {
        out.push(batch.toInput(table)!);
        batch = new TableInputBuilder();
        size = 0;
      }
    }
    const tail = batch.toInput(table);
    if (tail !== undefined) out.push(tail);
  }
  out.push(finalInput(plan, table, existing, last, names));
  return out;
}

function sameRules(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Edits that turn `old` into `next` with `-D` and `-I`, or undefined when rewriting the chain is as
 * cheap or the kept rules changed order. Kept rules stay in place; deleted rules go by content, new
 * ones are inserted at their final position in ascending order, so the chain ends up exactly `next`.
 */
function chainEdits(
  name: string,
  old: readonly string[],
  next: readonly string[],
): TableInputBuilder | undefined {
  const remaining = new Map<string, number>();
  for (const r of next) remaining.set(r, (remaining.get(r) ?? 0) + 1);
  const kept: string[] = [];
  const deleted: string[] = [];
  for (const r of old) {
    const n = remaining.get(r) ?? 0;
    if (n > 0) {
      remaining.set(r, n - 1);
      kept.push(r);
    } else {
      deleted.push(r);
    }
  }
  const keptCount = new Map<string, number>();
  for (const r of kept) keptCount.set(r, (keptCount.get(r) ?? 0) + 1);
  const inserted: { index: number; rule: string }[] = [];
  const keptInNext: string[] = [];
  next.forEach((r, index) => {
    const n = keptCount.get(r) ?? 0;
    if (n > 0) {
      keptCount.set(r, n - 1);
      keptInNext.push(r);
    } else {
      inserted.push({ index, rule: r });
    }
  });
  if (deleted.length + inserted.length >= next.length || !sameRules(kept, keptInNext)) return undefined;
  const lines = new TableInputBuilder();
  for (const r of deleted) lines.del.push(`-D ${name} ${r}`);
  for (const { index, rule } of inserted) lines.ins.push(`-I ${name} ${index + 1} ${rule}`);
  return lines;
}

/**
 * The partial-sync input for one table: the difference between two plans.
 *
 * @param applied the plan the kernel holds
 * @param next the plan to apply
 * @param table filter or nat
 * @returns restore input, or undefined when the table does not change
 * @example partialSyncInput(applied, next, 'nat')?.text
 */
export function partialSyncInput(
  applied: IptablesPlan,
  next: IptablesPlan,
  table: 'filter' | 'nat',
): TableInput | undefined {
  const lines = new TableInputBuilder();
  const before = new Map((tableOf(applied, table)?.chains ?? []).map((c) => [c.name, c]));
  const after = tableOf(next, table)?.chains ?? [];
  for (const c of after) {
    const old = before.get(c.name);
    before.delete(c.name);
    if (old !== undefined && sameRules(old.rules, c.rules)) continue;
    // Small chains (per-service ones) are rewritten: iptables-nft must read a chain's rules to delete or
    // insert by position, but appends to a flushed chain cheaply; the big shared chains get edits.
    const edits =
      old === undefined || old.rules.length < EDIT_MIN_RULES
        ? undefined
        : chainEdits(c.name, old.rules, c.rules);
    if (edits === undefined) {
      lines.rewrite(c);
    } else {
      lines.del.push(...edits.del);
      lines.ins.push(...edits.ins);
    }
  }
  for (const gone of before.keys()) {
    lines.decl.push(`:${gone} - [0:0]`);
    lines.drop.push(`-X ${gone}`);
  }
  return lines.toInput(table);
}
