/**
 * A strict in-memory {@link Iptables}: restore input is parsed and applied with iptables-restore's own
 * rules ({@link applyRestore}), so a jump to a chain that does not exist, a table without COMMIT, a rule
 * deleted twice or a referenced chain deleted all fail here as they fail in the kernel. It records every
 * call, can be told to fail, and can be flushed behind the applier's back.
 *
 * @module
 */
import type { Iptables, ResolvedIptablesBackend, RestoreOptions } from './iptables.ts';
import type { IptablesTable } from './iptables_restore.ts';
import { applyRestore, type IptablesState, RestoreError, renderSave } from './iptables_state.ts';

/** One recorded restore call. */
export interface RecordedRestore {
  readonly table: IptablesTable;
  readonly input: string;
  readonly noflush: boolean;
}

/** The strict fake. */
export class FakeIptables implements Iptables {
  readonly state: IptablesState = new Map();
  readonly restores: RecordedRestore[] = [];
  readonly saves: (IptablesTable | undefined)[] = [];
  #failures: Error[] = [];

  constructor(readonly backend: ResolvedIptablesBackend = 'legacy') {}

  /** Makes the next restore fail with this error (queued; one per call). */
  failNextRestore(error: Error = new RestoreError(1, 'injected failure')): void {
    this.#failures.push(error);
  }

  /** What `iptables -t TABLE -F; -X` by someone else would do (built-in chains emptied, others gone). */
  flushBehindOurBack(table: IptablesTable): void {
    const t = this.state.get(table);
    if (t === undefined) return;
    for (const [name, c] of [...t]) {
      if (c.policy === undefined) t.delete(name);
      else c.rules = [];
    }
  }

  async restore(table: IptablesTable, input: string, options: RestoreOptions): Promise<void> {
    this.restores.push({ table, input, noflush: options.noflush });
    const failure = this.#failures.shift();
    if (failure !== undefined) throw failure;
    const firstTable = /^\*(\w+)$/m.exec(input)?.[1];
    if (firstTable !== table)
      throw new RestoreError(1, `input is for table ${firstTable ?? '?'}, not ${table}`);
    applyRestore(this.state, input, options);
  }

  async save(table: IptablesTable | undefined): Promise<string> {
    this.saves.push(table);
    if (table !== undefined) return renderSave(this.state, table);
    return [...this.state.keys()].map((t) => renderSave(this.state, t)).join('');
  }

  async chainExists(table: IptablesTable, chain: string): Promise<boolean> {
    return this.state.get(table)?.has(chain) ?? false;
  }

  async version(): Promise<string> {
    return '1.8.9';
  }

  /** The rules of one chain, or undefined when it does not exist. */
  chain(table: IptablesTable, chain: string): readonly string[] | undefined {
    return this.state.get(table)?.get(chain)?.rules;
  }
}
