/**
 * An in-memory model of iptables tables: parsed from iptables-save output, changed by iptables-restore
 * input with the real tool's semantics (and its refusals), printed back as iptables-save would. The
 * strict fake is built on it, `kproxy trace` can walk it, and tests compare it.
 *
 * @module
 */

import { KproxyError } from '../contracts/errors.ts';
import type { IPFamily } from '../model/types.ts';
import {
  BUILTIN_CHAINS,
  type IptablesTable,
  isBuiltinChain,
  isValidChainName,
  type RestoreSyntaxError,
  restoreToken,
  tokenizeRestoreLine,
} from './iptables_restore.ts';
import { EXTENSION_TARGETS, parseRule, RuleSyntaxError } from './iptables_rule.ts';

/** One chain: its policy (built-in chains only) and its rules as normalized restore text. */
export interface ChainState {
  policy: string | undefined;
  rules: string[];
}

/** One table: chains in creation order (built-in first). */
export type TableState = Map<string, ChainState>;

/** Every table that exists. */
export type IptablesState = Map<IptablesTable, TableState>;

const TABLES: readonly IptablesTable[] = ['filter', 'nat', 'mangle', 'raw'];

/** iptables-restore refused its input: which line and why (as the real tool reports a line number). */
export class RestoreError extends KproxyError {
  override readonly name = 'RestoreError';
  override readonly code = 'KPROXY_IPTABLES_RESTORE_REFUSED';
  constructor(
    readonly line: number,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`Restore failed at line ${line}: ${reason}`, options);
  }
}

/**
 * Creates a table with only its built-in chains (policy ACCEPT), as the kernel does on first use.
 *
 * @param table the table
 * @returns the empty table
 * @example emptyTable('nat').has('PREROUTING') // true
 */
export function emptyTable(table: IptablesTable): TableState {
  const t: TableState = new Map();
  for (const c of BUILTIN_CHAINS[table]) t.set(c, { policy: 'ACCEPT', rules: [] });
  return t;
}

/**
 * Normalizes rule text: tokens re-quoted canonically, so that equal rules compare equal as strings.
 *
 * @param text rule arguments
 * @returns canonical rule text
 * @example normalizeRule('-m comment --comment "a"  -j X') // '-m comment --comment a -j X'
 */
export function normalizeRule(text: string): string {
  return tokenizeRestoreLine(text).map(restoreToken).join(' ');
}

function cloneTable(t: TableState): TableState {
  const out: TableState = new Map();
  for (const [name, c] of t) out.set(name, { policy: c.policy, rules: [...c.rules] });
  return out;
}

function jumpTargets(rule: string): string | undefined {
  const tokens = tokenizeRestoreLine(rule);
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i];
    if (t === '-j' || t === '--jump' || t === '-g' || t === '--goto') return tokens[i + 1];
  }
  return undefined;
}

/**
 * Counts the rules of a table that jump to a chain.
 *
 * @param table the table
 * @param chain the target chain
 * @returns how many rules reference it
 * @example referenceCount(state.get('nat')!, 'KUBE-SERVICES')
 */
export function referenceCount(table: TableState, chain: string): number {
  let n = 0;
  for (const c of table.values()) for (const r of c.rules) if (jumpTargets(r) === chain) n++;
  return n;
}

const TARGET_TABLES: Readonly<Record<string, readonly IptablesTable[]>> = {
  DNAT: ['nat'],
  SNAT: ['nat'],
  MASQUERADE: ['nat'],
  REDIRECT: ['nat'],
  REJECT: ['filter', 'mangle', 'raw'],
};

function checkRule(
  table: IptablesTable,
  state: TableState,
  rule: string,
  options: ApplyRestoreOptions,
): void {
  const parsed = parseRule(rule, { family: options.family });
  for (const m of parsed.matches) {
    if (m.kind === 'set' && options.setExists !== undefined && !options.setExists(m.name)) {
      throw new RuleSyntaxError(`Set ${m.name} doesn't exist`);
    }
  }
  const target = parsed.target;
  if (target === undefined) return;
  if (target.kind === 'jump') {
    if (!state.has(target.chain) || isBuiltinChain(table, target.chain)) {
      throw new RuleSyntaxError(`Couldn't load target \`${target.chain}': No such file or directory`);
    }
    return;
  }
  const name = target.kind === 'other' ? target.name : target.kind;
  if (!EXTENSION_TARGETS.has(name)) throw new RuleSyntaxError(`Unknown target ${name}`);
  const allowed = TARGET_TABLES[name];
  if (allowed !== undefined && !allowed.includes(table)) {
    throw new RuleSyntaxError(`Target ${name} is not valid in the ${table} table`);
  }
}

/** Options of {@link applyRestore}. */
export interface ApplyRestoreOptions {
  /** `--noflush`: keep chains that the input does not mention. */
  readonly noflush: boolean;
  /** Validate every rule (default true); false to read iptables-save output of rules kproxy does not model. */
  readonly strict?: boolean | undefined;
  /** iptables (IPv4, the default) or ip6tables (IPv6): the addresses rules may name. */
  readonly family?: IPFamily | undefined;
  /** Whether an ipset exists (`-m set --match-set NAME` must name one); unchecked when undefined. */
  readonly setExists?: ((name: string) => boolean) | undefined;
}

/**
 * Applies iptables-restore input to a state, table by table, refusing what the real tool refuses: a
 * table without COMMIT, a rule in or a jump to a chain that does not exist, deleting a rule that is
 * not there, deleting a chain that is built in, still referenced or not empty, a malformed rule (for
 * the family), a set match naming an ipset that does not exist (when told which exist).
 * Each table is committed at its COMMIT line (as iptables-legacy-restore does); a failure leaves the
 * table being restored untouched.
 *
 * @param state the tables (changed in place)
 * @param input restore input
 * @param options `noflush`
 * @throws RestoreError with the line number
 * @example applyRestore(state, '*nat\n:KUBE-X - [0:0]\nCOMMIT\n', { noflush: true })
 */
export function applyRestore(state: IptablesState, input: string, options: ApplyRestoreOptions): void {
  const strict = options.strict ?? true;
  const lines = input.split('\n');
  let table: IptablesTable | undefined;
  let work: TableState | undefined;
  let lineNo = 0;
  const failure = (reason: string, cause?: unknown): RestoreError =>
    new RestoreError(lineNo, reason, cause === undefined ? undefined : { cause });
  for (const raw of lines) {
    lineNo++;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      if (table !== undefined) throw failure(`table ${table} has no COMMIT before the next table`);
      const name = line.slice(1);
      if (!TABLES.includes(name as IptablesTable)) throw failure(`unknown table ${name}`);
      table = name as IptablesTable;
      work = options.noflush ? cloneTable(state.get(table) ?? emptyTable(table)) : emptyTable(table);
      continue;
    }
    if (table === undefined || work === undefined) throw failure('line outside a table');
    if (line === 'COMMIT') {
      state.set(table, work);
      table = undefined;
      work = undefined;
      continue;
    }
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (name === undefined || !isValidChainName(name)) throw failure(`bad chain name in ${line}`);
      if (isBuiltinChain(table, name)) {
        if (policy !== undefined && policy !== '-') work.get(name)!.policy = policy;
      } else {
        if (policy !== undefined && policy !== '-') throw failure(`a user chain has no policy: ${line}`);
        work.set(name, { policy: undefined, rules: [] });
      }
      continue;
    }
    let tokens: string[];
    try {
      tokens = tokenizeRestoreLine(line);
    } catch (e) {
      throw failure((e as RestoreSyntaxError).message, e);
    }
    const [command, chain, ...rest] = tokens;
    if (chain === undefined) throw failure(`missing chain: ${line}`);
    const target = work.get(chain);
    try {
      switch (command) {
        case '-A':
        case '--append': {
          if (target === undefined) throw failure(`no chain ${chain}`);
          const rule = rest.map(restoreToken).join(' ');
          if (strict) checkRule(table, work, rule, options);
          target.rules.push(rule);
          break;
        }
        case '-I':
        case '--insert': {
          if (target === undefined) throw failure(`no chain ${chain}`);
          let pos = 1;
          let args = rest;
          if (rest[0] !== undefined && /^\d+$/.test(rest[0])) {
            pos = Number(rest[0]);
            args = rest.slice(1);
          }
          if (pos < 1 || pos > target.rules.length + 1)
            throw failure(`index ${pos} out of range in ${chain}`);
          const rule = args.map(restoreToken).join(' ');
          if (strict) checkRule(table, work, rule, options);
          target.rules.splice(pos - 1, 0, rule);
          break;
        }
        case '-D':
        case '--delete': {
          if (target === undefined) throw failure(`no chain ${chain}`);
          if (rest.length === 1 && /^\d+$/.test(rest[0]!)) {
            const pos = Number(rest[0]);
            if (pos < 1 || pos > target.rules.length) throw failure(`index ${pos} out of range in ${chain}`);
            target.rules.splice(pos - 1, 1);
          } else {
            const rule = rest.map(restoreToken).join(' ');
            const at = target.rules.indexOf(rule);
            if (at < 0) throw failure(`Bad rule (does a matching rule exist in that chain?): ${line}`);
            target.rules.splice(at, 1);
          }
          break;
        }
        case '-N':
        case '--new-chain':
          if (target !== undefined) throw failure(`chain ${chain} already exists`);
          if (!isValidChainName(chain)) throw failure(`bad chain name ${chain}`);
          work.set(chain, { policy: undefined, rules: [] });
          break;
        case '-F':
        case '--flush':
          if (target === undefined) throw failure(`no chain ${chain}`);
          target.rules = [];
          break;
        case '-X':
        case '--delete-chain':
          if (target === undefined) throw failure(`no chain ${chain}`);
          if (isBuiltinChain(table, chain)) throw failure(`cannot delete built-in chain ${chain}`);
          if (target.rules.length > 0) throw failure(`chain ${chain} is not empty`);
          if (referenceCount(work, chain) > 0) throw failure(`chain ${chain} is still referenced`);
          work.delete(chain);
          break;
        default:
          throw failure(`unknown command ${command ?? ''}`);
      }
    } catch (e) {
      if (e instanceof RestoreError) throw e;
      throw failure((e as Error).message, e);
    }
  }
  if (table !== undefined) throw failure(`table ${table} has no COMMIT`);
}

/**
 * Parses iptables-save output into a state.
 *
 * @param text iptables-save output (any number of tables)
 * @returns the tables found
 * @throws RestoreError when the text is malformed
 * @example parseIptablesSave(await iptables.save('nat')).get('nat')
 */
export function parseIptablesSave(text: string): IptablesState {
  const state: IptablesState = new Map();
  applyRestore(state, text, { noflush: false, strict: false });
  return state;
}

/**
 * Prints one table as iptables-save does (without counters and timestamps).
 *
 * @param state the tables
 * @param table which one
 * @returns the save text, or '' when the table does not exist
 * @example renderSave(state, 'nat')
 */
export function renderSave(state: IptablesState, table: IptablesTable): string {
  const t = state.get(table);
  if (t === undefined) return '';
  const out = [`*${table}`];
  for (const [name, c] of t) out.push(`:${name} ${c.policy ?? '-'} [0:0]`);
  for (const [name, c] of t) for (const r of c.rules) out.push(`-A ${name} ${r}`);
  out.push('COMMIT', '');
  return out.join('\n');
}
