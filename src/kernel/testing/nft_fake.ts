/**
 * A strict in-memory `nft`: answers the command lines of the nft seam (src/kernel/nft.ts) as nft 1.0.6
 * does, so that the real seam runs over it unchanged (`createNft(fake.exec)`):
 *
 * - `nft -f -` applies the script (kproxy's dialect, nft_script.ts and nft_rule.ts) as one transaction,
 *   all or nothing; `nft -c -f -` checks it and commits nothing. What real nft refuses is refused here
 *   with nft's exit code and its stderr form (`/dev/stdin:LINE:COL-COL: Error: REASON`, the line, the
 *   carets): an unknown command word, a jump to a chain not declared before it, an element into a
 *   missing set or of the wrong key shape, a chain or rule in a missing table, `flush` or `delete` of
 *   what is missing, deleting what is still referenced, a base chain's type, hook or priority changed,
 *   a NAT statement reached from the wrong hook (see nft_ruleset.ts, checked against the real nft by
 *   src/kernel/nft_kernel_test.ts). The first refusal in script order is reported (nft reports syntax
 *   errors first, then its own checks, then the kernel's, and sometimes several).
 * - `nft -j list table|tables|chains|set|map ...` answers in nft's JSON schema, except that rules carry
 *   no `expr` (kproxy reads only which chain a rule is in);
 * - `nft delete table FAMILY NAME` and `nft --version`.
 *
 * Anything else exits 2 with `kproxy fake: unsupported ...`, so a test never passes on what the fake
 * ignores. {@link FakeNft.failNextTransaction} makes the next `-f` fail as a refused transaction would.
 *
 * @module
 */
import type { Exec, ExecResult } from '../exec.ts';
import type { NftFamily } from '../nft_listing.ts';
import { Journal } from './nft_journal.ts';
import { type FakeContainer, type FakeTable, NftRuleset, type RulesetData } from './nft_ruleset.ts';
import { NftRefusal, parseCommand, splitCommands, tokenize } from './nft_script.ts';

/** One `nft -f -` or `nft -c -f -` the fake was given. */
export interface RecordedNftTransaction {
  readonly script: string;
  /** `-c`: checked, never committed. */
  readonly check: boolean;
  /** Why it was refused (nft's stderr), undefined when it passed. */
  readonly refused: string | undefined;
}

/** Options of {@link FakeNft}. */
export interface FakeNftOptions {
  /** What `nft --version` says (default `1.0.6`, the version the fake mimics). */
  readonly version?: string | undefined;
  /**
   * Families this kernel has no nf_tables support for (built without CONFIG_NF_TABLES_IPV6, say): every
   * command on a table of one is refused as the kernel refuses it, `Could not process rule: Address family
   * not supported by protocol` (also under `-c`, which the kernel checks).
   */
  readonly unsupportedFamilies?: readonly NftFamily[] | undefined;
}

const RELEASE_NAME = 'Lester Gooch #5';
const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });

/** nft's error report of a refusal: place, reason, the line, carets under what it points at. */
function refusalText(refusal: NftRefusal, input: string, file: string | undefined): string {
  const [from, to] = 'line' in refusal.at ? [refusal.at, refusal.at] : refusal.at;
  const text = input.split('\n')[from.line - 1] ?? '';
  const end = to.line === from.line ? to.end : text.length;
  const marker =
    text.slice(0, from.col - 1).replace(/[^\t]/g, ' ') + '^'.repeat(Math.max(1, end - from.col + 1));
  const place = file === undefined ? '' : `${file}:${from.line}:${from.col}-${end}: `;
  return `${place}Error: ${refusal.reason}\n${text}\n${marker}\n`;
}

/** The strict fake; {@link FakeNft.exec} is the exec to give the seam. */
export class FakeNft {
  /** Every `-f` transaction, in order. */
  readonly transactions: RecordedNftTransaction[] = [];
  readonly #version: string;
  readonly #data: RulesetData = { tables: new Map(), nextTableHandle: 1 };
  readonly #failures: string[] = [];
  readonly #unsupported: ReadonlySet<NftFamily>;

  constructor(options: FakeNftOptions = {}) {
    this.#version = options.version ?? '1.0.6';
    this.#unsupported = new Set(options.unsupportedFamilies ?? []);
  }

  /** An exec that runs `nft` against the fake; any other program is not found (exit 127). */
  readonly exec: Exec = async (command, args, options) =>
    command === 'nft'
      ? this.answer(args, options?.input ?? '')
      : { code: 127, stdout: '', stderr: `kproxy fake: ${command}: not found\n` };

  /** Makes the next `-f` transaction fail with this reason at line 1 (queued; one per transaction). */
  failNextTransaction(reason = 'kproxy fake: injected failure'): void {
    this.#failures.push(reason);
  }

  /**
   * Answers one `nft` command line as nft would.
   *
   * @param args the arguments
   * @param input standard input (the script of `-f -`)
   * @returns exit code and output
   * @example fake.answer(['-f', '-'], 'add table ip t\n').code // 0
   */
  answer(args: readonly string[], input: string): ExecResult {
    const line = args.join(' ');
    if (line === '--version' || line === '-v') return ok(`nftables v${this.#version} (${RELEASE_NAME})\n`);
    if (line === '-f -' || line === '-c -f -') return this.#transaction(input, line === '-c -f -', true);
    if (args[0] === '-j' && args[1] === 'list') return this.#list(args.slice(2));
    if (args[0] === 'delete' && args[1] === 'table' && args.length === 4) {
      const result = this.#run(line, false);
      return result === undefined
        ? ok()
        : { code: 1, stdout: '', stderr: refusalText(result, line, undefined) };
    }
    return { code: 2, stdout: '', stderr: `kproxy fake: unsupported nft ${line}\n` };
  }

  /**
   * Adds an element to a set as the packet path does (`update @set { ip saddr }`): a client's affinity.
   *
   * @param family the table's family
   * @param table the table
   * @param set the set
   * @param key the element's key, e.g. `['10.0.0.1']`
   * @throws {Error} when the set does not take it
   */
  addFromPacketPath(family: NftFamily, table: string, set: string, key: readonly string[]): void {
    const refusal = this.#run(`add element ${family} ${table} ${set} { ${key.join(' . ')} }`, false);
    if (refusal !== undefined) throw new Error(`The fake set refuses the element: ${refusal.reason}`);
  }

  /** Every table as `FAMILY NAME`, sorted. */
  tables(): string[] {
    return [...this.#data.tables.keys()].sort();
  }

  /** A table's chain names, sorted; undefined when there is no such table. */
  chains(family: NftFamily, table: string): string[] | undefined {
    const t = this.#data.tables.get(`${family} ${table}`);
    return t === undefined ? undefined : [...t.chains.keys()].sort();
  }

  /** A chain's rules as written; undefined when there is no such chain. */
  rules(family: NftFamily, table: string, chain: string): string[] | undefined {
    return this.#data.tables
      .get(`${family} ${table}`)
      ?.chains.get(chain)
      ?.rules.map((r) => r.rule.text);
  }

  /** A set's or map's elements as written (`KEY [comment "..."] [: VERDICT]`), sorted; undefined when absent. */
  elements(family: NftFamily, table: string, name: string): string[] | undefined {
    const c = this.#data.tables.get(`${family} ${table}`)?.containers.get(name);
    if (c === undefined) return undefined;
    return [...c.elements.entries()]
      .map(
        ([key, e]) =>
          `${key}${e.comment === undefined ? '' : ` comment "${e.comment}"`}${e.value === undefined ? '' : ` : ${e.value}`}`,
      )
      .sort();
  }

  #transaction(script: string, check: boolean, record: boolean): ExecResult {
    const failure = check ? undefined : this.#failures.shift();
    const refusal =
      failure === undefined
        ? this.#run(script, check)
        : new NftRefusal({ text: '', kind: 'word', line: 1, col: 1, end: 1 }, failure);
    const stderr = refusal === undefined ? '' : refusalText(refusal, script, '/dev/stdin');
    if (record)
      this.transactions.push({ script, check, refused: refusal === undefined ? undefined : stderr });
    return refusal === undefined ? ok() : { code: 1, stdout: '', stderr };
  }

  /** Parses and applies a script; rolls it back when refused, or when it is a check. */
  #run(script: string, check: boolean): NftRefusal | undefined {
    const journal = new Journal();
    try {
      const commands = splitCommands(tokenize(script)).map(parseCommand);
      const unsupported = commands.find((c) => this.#unsupported.has(c.family));
      if (unsupported !== undefined) {
        const tokens = unsupported.tokens;
        throw new NftRefusal(
          [tokens[0]!, tokens.at(-1)!],
          'Could not process rule: Address family not supported by protocol',
        );
      }
      const ruleset = new NftRuleset(this.#data, journal);
      for (const command of commands) ruleset.apply(command);
      if (check) journal.rollback();
      else journal.commit();
      return undefined;
    } catch (error) {
      journal.rollback();
      if (error instanceof NftRefusal) return error;
      throw error;
    }
  }

  #list(what: readonly string[]): ExecResult {
    const [kind, family, table, name] = what;
    const tables = byHandle(this.#data.tables.values());
    const objects: unknown[] = [];
    const missing = (at: number): ExecResult => {
      const line = ['list', ...what].join(' ');
      const col =
        line
          .split(' ')
          .slice(0, at + 1)
          .join(' ').length + 2;
      const word = what[at] ?? '';
      return {
        code: 1,
        stdout: '',
        stderr: `Error: No such file or directory\n${line}\n${' '.repeat(col - 1)}${'^'.repeat(word.length)}\n`,
      };
    };
    if (kind === 'tables' && what.length === 1) {
      for (const t of tables) objects.push({ table: tableJson(t) });
    } else if (kind === 'chains' && what.length <= 2) {
      for (const t of tables.filter((t) => family === undefined || t.family === family)) {
        objects.push(...chainObjects(t));
      }
    } else if (kind === 'table' && what.length === 3) {
      const t = this.#data.tables.get(`${family} ${table}`);
      if (t === undefined) return missing(2);
      objects.push({ table: tableJson(t) }, ...tableObjects(t));
    } else if (kind === 'chain' && what.length === 4) {
      const t = this.#data.tables.get(`${family} ${table}`);
      if (t === undefined) return missing(2);
      const c = t.chains.get(name!);
      if (c === undefined) return missing(3);
      objects.push(
        ...chainObjects(t).filter((o) => (o as { chain: { name: string } }).chain.name === name),
        ...tableObjects(t).filter((o) => (o as { rule?: { chain: string } }).rule?.chain === name),
      );
    } else if ((kind === 'set' || kind === 'map') && what.length === 4) {
      const t = this.#data.tables.get(`${family} ${table}`);
      if (t === undefined) return missing(2);
      const c = t.containers.get(name!);
      if (c === undefined || c.kind !== kind) return missing(3);
      objects.push(containerJson(t, c));
    } else {
      return { code: 2, stdout: '', stderr: `kproxy fake: unsupported nft -j list ${what.join(' ')}\n` };
    }
    const metainfo = { version: this.#version, release_name: RELEASE_NAME, json_schema_version: 1 };
    return ok(`${JSON.stringify({ nftables: [{ metainfo }, ...objects] })}\n`);
  }
}

function tableJson(t: FakeTable): object {
  return { family: t.family, name: t.name, handle: t.handle };
}

function byHandle<T extends { readonly handle: number }>(items: Iterable<T>): T[] {
  return [...items].sort((a, b) => a.handle - b.handle);
}

function chainObjects(t: FakeTable): object[] {
  return byHandle(t.chains.values()).map((c) => ({
    chain: {
      family: t.family,
      table: t.name,
      name: c.name,
      handle: c.handle,
      ...(c.base === undefined
        ? {}
        : { type: c.base.type, hook: c.base.hook, prio: c.base.priority, policy: c.base.policy }),
    },
  }));
}

/** What `list table` prints after the table: sets and maps, chains, then every chain's rules. */
function tableObjects(t: FakeTable): object[] {
  const rules = byHandle(t.chains.values()).flatMap((c) =>
    c.rules.map((r) => ({
      rule: {
        family: t.family,
        table: t.name,
        chain: c.name,
        handle: r.handle,
        ...(r.rule.comment === undefined ? {} : { comment: r.rule.comment }),
      },
    })),
  );
  return [...byHandle(t.containers.values()).map((c) => containerJson(t, c)), ...chainObjects(t), ...rules];
}

/** A key part as nft's JSON has it: ports and integers as numbers, prefixes as objects, the rest as strings. */
function keyPartJson(part: string, type: string | undefined): unknown {
  if (type === 'inet_service' || type === 'integer') return Number(part);
  const [addr, len] = part.split('/');
  return len === undefined ? part : { prefix: { addr, len: Number(len) } };
}

function verdictJson(verdict: string): unknown {
  const [kind = '', target] = verdict.split(' ');
  return target === undefined ? { [kind]: null } : { [kind]: { target } };
}

function containerJson(t: FakeTable, c: FakeContainer): object {
  // nft 1.0.6 lists `dynamic` in text but not in JSON.
  const flags = ['constant', 'interval', 'timeout'].filter((f) => c.flags.includes(f));
  const elements = [...c.elements.values()].map((e) => {
    const parts = e.key.map((p, i) => keyPartJson(p, c.keyType[i]));
    const val = parts.length === 1 ? parts[0] : { concat: parts };
    const extra = {
      ...(c.timeoutSeconds === undefined ? {} : { expires: c.timeoutSeconds }),
      ...(e.comment === undefined ? {} : { comment: e.comment }),
    };
    const key = Object.keys(extra).length === 0 ? val : { elem: { val, ...extra } };
    if (c.kind === 'set') return key;
    if (c.valueType === 'verdict' || c.valueType === undefined) return [key, verdictJson(e.value ?? '')];
    // An endpoint map's value: an address, or `ADDR . PORT` as a concatenation.
    const types = c.valueType.split(' . ');
    if (types.length === 1) return [key, keyPartJson(e.value ?? '', types[0])];
    return [key, { concat: (e.value ?? '').split(' . ').map((p, i) => keyPartJson(p, types[i])) }];
  });
  return {
    [c.kind]: {
      family: t.family,
      name: c.name,
      table: t.name,
      type: c.keyType.length === 1 ? c.keyType[0] : c.keyType,
      handle: c.handle,
      ...(c.comment === undefined ? {} : { comment: c.comment }),
      ...(flags.length === 0 ? {} : { flags }),
      ...(c.timeoutSeconds === undefined ? {} : { timeout: c.timeoutSeconds }),
      ...(c.kind === 'map' ? { map: c.valueType } : {}),
      ...(elements.length === 0 ? {} : { elem: elements }),
    },
  };
}
