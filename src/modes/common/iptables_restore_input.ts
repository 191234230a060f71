/**
 * Restore input for one table of kproxy's own chains, as both iptables-based modes write it: chains
 * declared (which creates or flushes them) and filled, `-D`/`-I` edits, chains deleted, and the jumps
 * from the built-in chains ensured exactly once. The iptables mode builds its full and partial syncs on
 * {@link TableInputBuilder}; the ipvs mode rewrites its small fixed ruleset with
 * {@link rewriteChainsInput}.
 *
 * @module
 */
import type { ChainRules, IptablesTable } from '../../kernel/iptables_restore.ts';
import { normalizeRule, type TableState } from '../../kernel/iptables_state.ts';
import type { JumpRule } from './iptables_base_chains.ts';

/** Restore input for one table. */
export interface TableInput {
  readonly table: IptablesTable;
  readonly text: string;
  readonly lines: number;
}

/**
 * The lines of one table's restore input, collected by kind and written in the order iptables-restore
 * needs: declarations, deletions, insertions, appends, then chain deletions (a chain can only go once
 * nothing jumps to it any more).
 */
export class TableInputBuilder {
  /** `:CHAIN - [0:0]`: creates or flushes a chain. */
  readonly decl: string[] = [];
  /** `-D CHAIN RULE`. */
  readonly del: string[] = [];
  /** `-I CHAIN N RULE`. */
  readonly ins: string[] = [];
  /** `-A CHAIN RULE`. */
  readonly add: string[] = [];
  /** `-X CHAIN`. */
  readonly drop: string[] = [];

  /**
   * The collected lines as restore input.
   *
   * @param table the table the lines are for
   * @returns the input, or undefined when nothing was collected
   * @example new TableInputBuilder().toInput('nat') // undefined
   */
  toInput(table: IptablesTable): TableInput | undefined {
    const n = this.decl.length + this.del.length + this.ins.length + this.add.length + this.drop.length;
    if (n === 0) return undefined;
    const text = `*${table}\n${[...this.decl, ...this.del, ...this.ins, ...this.add, ...this.drop].join('\n')}\nCOMMIT\n`;
    return { table, text, lines: n + 2 };
  }

  /**
   * Declares (flushes) a chain and appends its rules.
   *
   * @param chain the chain with its rules
   * @example builder.rewrite({ name: 'KUBE-MARK-MASQ', rules: ['-j MARK --or-mark 0x4000'] })
   */
  rewrite(chain: ChainRules): void {
    this.decl.push(`:${chain.name} - [0:0]`);
    const prefix = `-A ${chain.name} `;
    for (const r of chain.rules) this.add.push(prefix + r);
  }

  /**
   * Jumps from built-in chains: inserts the missing ones (in reverse, so they end up in the listed order
   * at the top of the chain) and deletes duplicates.
   *
   * @param jumps the jumps (the ones of other tables are ignored)
   * @param table the table being written
   * @param existing that table as iptables-save shows it now (undefined when it does not exist)
   * @example builder.ensureJumps(IPVS_JUMPS, 'nat', parseIptablesSave(await ipt.save('nat')).get('nat'))
   */
  ensureJumps(jumps: readonly JumpRule[], table: IptablesTable, existing: TableState | undefined): void {
    const own = jumps.filter((j) => j.table === table);
    for (let i = own.length - 1; i >= 0; i--) {
      const j = own[i]!;
      const want = normalizeRule(j.rule);
      const have = (existing?.get(j.from)?.rules ?? []).filter((r) => normalizeRule(r) === want).length;
      if (have === 0) this.ins.push(`-I ${j.from} 1 ${j.rule}`);
      for (let k = 1; k < have; k++) this.del.push(`-D ${j.from} ${j.rule}`);
    }
  }
}

/**
 * The input that rewrites a fixed set of chains of one table (each declared, which flushes it, then
 * filled) and, when jumps are given, gives the built-in chains those jumps exactly once: a whole sync of
 * a small fixed ruleset such as the ipvs mode's.
 *
 * @param table the table
 * @param chains the chains to write, in order
 * @param jumps jumps to ensure (the ones of other tables are ignored); none on a partial sync
 * @param existing that table as iptables-save shows it now (needed for the jumps)
 * @returns restore input, or undefined when there is nothing to write
 * @example rewriteChainsInput('nat', natChains, IPVS_JUMPS, parseIptablesSave(await ipt.save('nat')).get('nat'))
 */
export function rewriteChainsInput(
  table: IptablesTable,
  chains: readonly ChainRules[],
  jumps: readonly JumpRule[],
  existing: TableState | undefined,
): TableInput | undefined {
  const lines = new TableInputBuilder();
  for (const c of chains) lines.rewrite(c);
  lines.ensureJumps(jumps, table, existing);
  return lines.toInput(table);
}
