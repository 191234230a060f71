/**
 * A strict in-memory {@link Iptables}: restore input is parsed and applied with iptables-restore's own
 * rules ({@link applyRestore}), so a jump to a chain that does not exist, a table without COMMIT, a rule
 * deleted twice, a referenced chain deleted or (when told which sets exist) a set match naming a missing
 * ipset all fail here as they fail in the kernel. It records every call, can be told to fail, can be
 * flushed behind the applier's back, and can answer the tools' command lines ({@link FakeIptables.answer})
 * for a fake host that routes an {@link Exec} to it.
 *
 * @module
 */
import type { IPFamily } from '../../model/types.ts';
import type { ExecResult } from '../exec.ts';
import type { Iptables, IptablesRuleSpec, ResolvedIptablesBackend, RestoreOptions } from '../iptables.ts';
import { type IptablesTable, restoreToken, tokenizeRestoreLine } from '../iptables_restore.ts';
import { applyRestore, type IptablesState, RestoreError, renderSave } from '../iptables_state.ts';

/** One recorded restore call. */
export interface RecordedRestore {
  readonly table: IptablesTable;
  readonly input: string;
  readonly noflush: boolean;
}

/** Options of {@link FakeIptables}. */
export interface FakeIptablesOptions {
  /** IPv4 (iptables, the default) or IPv6 (ip6tables): the addresses rules may name. */
  readonly family?: IPFamily | undefined;
  /** Which ipsets exist: a rule matching any other set is refused. Unchecked when undefined. */
  readonly setExists?: ((name: string) => boolean) | undefined;
}

/** Which program of the iptables tools a command line runs. */
export type IptablesTool = 'restore' | 'save' | 'iptables';

const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
const NO_CHAIN: ExecResult = {
  code: 1,
  stdout: '',
  stderr: 'iptables: No chain/target/match by that name.\n',
};
const NO_RULE: ExecResult = {
  code: 1,
  stdout: '',
  stderr: 'iptables: Bad rule (does a matching rule exist in that chain?).\n',
};

/** The rule commands of `iptables -t TABLE` that the fake answers. */
const RULE_COMMANDS: ReadonlySet<string> = new Set(['-C', '-I', '-A', '-D', '-F', '-X']);

/** The strict fake. */
export class FakeIptables implements Iptables {
  readonly state: IptablesState = new Map();
  readonly restores: RecordedRestore[] = [];
  readonly saves: (IptablesTable | undefined)[] = [];
  readonly #options: FakeIptablesOptions;
  #failures: Error[] = [];

  constructor(
    readonly backend: ResolvedIptablesBackend = 'legacy',
    options: FakeIptablesOptions = {},
  ) {
    this.#options = options;
  }

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
    const firstTable = /^\*(\w+)$/m.exec(input)?.[1];
    this.#restore(table, input, options.noflush);
    if (firstTable !== table)
      throw new RestoreError(1, `input is for table ${firstTable ?? '?'}, not ${table}`);
    this.#apply(input, options.noflush);
  }

  async save(table: IptablesTable | undefined): Promise<string> {
    return this.#save(table);
  }

  async chainExists(table: IptablesTable, chain: string): Promise<boolean> {
    return this.state.get(table)?.has(chain) ?? false;
  }

  async version(): Promise<string> {
    return '1.8.9';
  }

  async listRules(table: IptablesTable, chain: string, ruleNumber?: number): Promise<string[] | undefined> {
    const rules = this.chain(table, chain);
    if (rules === undefined) return undefined;
    if (ruleNumber === undefined) return [...rules];
    const rule = rules[ruleNumber - 1];
    return rule === undefined ? undefined : [rule];
  }

  async ensureRule(rule: IptablesRuleSpec, position: 'first' | 'last'): Promise<boolean> {
    if (this.#hasRule(rule)) return true;
    const add = position === 'first' ? `-I ${rule.chain} 1` : `-A ${rule.chain}`;
    this.#applyCommand(rule.table, `${add} ${ruleText(rule.args)}`);
    return false;
  }

  async deleteRule(rule: IptablesRuleSpec): Promise<boolean> {
    if (!this.#hasRule(rule)) return false;
    this.#applyCommand(rule.table, `-D ${rule.chain} ${ruleText(rule.args)}`);
    return true;
  }

  async deleteChain(table: IptablesTable, chain: string): Promise<boolean> {
    if (this.chain(table, chain) === undefined) return false;
    this.#applyCommand(table, `-F ${chain}\n-X ${chain}`);
    return true;
  }

  /** The rules of one chain, or undefined when it does not exist. */
  chain(table: IptablesTable, chain: string): readonly string[] | undefined {
    return this.state.get(table)?.get(chain)?.rules;
  }

  /** The chain names of a table, sorted (none when the table does not exist). */
  chains(table: IptablesTable): string[] {
    return [...(this.state.get(table)?.keys() ?? [])].sort();
  }

  /** Whether a rule of any table matches this ipset (the kernel then refuses to destroy it). */
  referencesSet(name: string): boolean {
    for (const table of this.state.values()) {
      for (const chain of table.values()) {
        for (const rule of chain.rules) {
          const tokens = tokenizeRestoreLine(rule);
          if (tokens.some((t, i) => t === '--match-set' && tokens[i + 1] === name)) return true;
        }
      }
    }
    return false;
  }

  /**
   * Answers one command line as the real tool would: `iptables-restore [-w N] [--noflush]` (input on
   * stdin, exit 1 with `line N failed` on a refusal), `iptables-save [-t TABLE]`, `iptables -w N -t
   * TABLE -S CHAIN [N]`, the rule commands `-C`, `-I CHAIN 1`, `-A`, `-D`, `-F`, `-X` (exit 1 with the tool's
   * "Bad rule" or "No chain" for what is not there), `iptables --version` and `iptables-restore --version`.
   *
   * @param tool which program (the fake host maps `ip6tables-nft-save` and the like to it)
   * @param args its arguments
   * @param input its standard input
   * @returns exit code and output
   * @example fake.answer('save', ['-t', 'nat'], '').stdout
   */
  answer(tool: IptablesTool, args: readonly string[], input: string): ExecResult {
    const rest = args[0] === '-w' ? args.slice(2) : args;
    switch (tool) {
      case 'save':
        if (rest.length === 0) return ok(this.#save(undefined));
        if (rest.length === 2 && rest[0] === '-t') return ok(this.#save(rest[1] as IptablesTable));
        break;
      case 'restore': {
        if (rest.length === 1 && rest[0] === '--version')
          return ok(`iptables-restore v1.8.9 (${this.backend})\n`);
        if (rest.length > 1 || (rest.length === 1 && rest[0] !== '--noflush')) break;
        const noflush = rest.length === 1;
        const table = (/^\*(\w+)$/m.exec(input)?.[1] ?? 'filter') as IptablesTable;
        try {
          this.#restore(table, input, noflush);
          this.#apply(input, noflush);
          return ok();
        } catch (error) {
          if (!(error instanceof RestoreError)) throw error;
          return {
            code: 1,
            stdout: '',
            stderr: `iptables-restore: line ${error.line} failed: ${error.reason}\n`,
          };
        }
      }
      case 'iptables':
        if (rest.length === 1 && rest[0] === '--version') return ok(`iptables v1.8.9 (${this.backend})\n`);
        if ((rest.length === 4 || rest.length === 5) && rest[0] === '-t' && rest[2] === '-S') {
          const rules = this.chain(rest[1] as IptablesTable, rest[3]!);
          if (rules === undefined)
            return { code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.\n' };
          if (rest.length === 5) {
            // `-S CHAIN N`: rule N alone; past the last rule nothing at all, and still exit 0.
            const n = Number(rest[4]);
            if (!Number.isInteger(n) || n < 1) break;
            const rule = rules[n - 1];
            return ok(rule === undefined ? '' : `-A ${rest[3]} ${rule}\n`);
          }
          return ok([`-N ${rest[3]}`, ...rules.map((r) => `-A ${rest[3]} ${r}`)].join('\n') + '\n');
        }
        if (rest.length >= 4 && rest[0] === '-t' && RULE_COMMANDS.has(rest[2]!)) {
          return this.#answerRuleCommand(rest[1] as IptablesTable, rest[2]!, rest[3]!, rest.slice(4));
        }
        break;
      default: {
        const never: never = tool;
        return never;
      }
    }
    return { code: 2, stdout: '', stderr: `kproxy fake: unsupported ${tool} ${args.join(' ')}\n` };
  }

  /** One rule command, answered with the tools' exit codes and messages. */
  #answerRuleCommand(table: IptablesTable, command: string, chain: string, args: string[]): ExecResult {
    if (this.chain(table, chain) === undefined) return NO_CHAIN;
    const rule = { table, chain, args: command === '-I' && args[0] === '1' ? args.slice(1) : args };
    if ((command === '-C' || command === '-D') && !this.#hasRule(rule)) return NO_RULE;
    if (command === '-C') return ok();
    try {
      const text = command === '-F' || command === '-X' ? '' : ` ${ruleText(rule.args)}`;
      this.#applyCommand(table, `${command} ${chain}${command === '-I' ? ' 1' : ''}${text}`);
      return ok();
    } catch (error) {
      if (!(error instanceof RestoreError)) throw error;
      return { code: command === '-X' ? 1 : 2, stdout: '', stderr: `iptables: ${error.reason}\n` };
    }
  }

  #hasRule(rule: IptablesRuleSpec): boolean {
    return this.chain(rule.table, rule.chain)?.includes(ruleText(rule.args)) ?? false;
  }

  /** Applies rule commands to one table, as `iptables` would one by one (validated, not recorded). */
  #applyCommand(table: IptablesTable, commands: string): void {
    this.#apply(`*${table}\n${commands}\nCOMMIT\n`, true);
  }

  /** Records a restore call and throws an injected failure. */
  #restore(table: IptablesTable, input: string, noflush: boolean): void {
    this.restores.push({ table, input, noflush });
    const failure = this.#failures.shift();
    if (failure !== undefined) throw failure;
  }

  #apply(input: string, noflush: boolean): void {
    applyRestore(this.state, input, {
      noflush,
      family: this.#options.family,
      setExists: this.#options.setExists,
    });
  }

  #save(table: IptablesTable | undefined): string {
    this.saves.push(table);
    if (table !== undefined) return renderSave(this.state, table);
    return [...this.state.keys()].map((t) => renderSave(this.state, t)).join('');
  }
}

/** Rule arguments as the state keeps them (normalized restore text). */
function ruleText(args: readonly string[]): string {
  return args.map(restoreToken).join(' ');
}
