/**
 * The strict fake's kernel state and what each command does to it, as nft 1.0.6 on Linux 6.x does
 * (each rule checked against a real nft in a kpt- namespace by src/kernel/nft_kernel_test.ts):
 *
 * - commands take effect in order, within one transaction: a rule may jump only to a chain declared
 *   before it (in an earlier line or transaction), an element only into a set declared before it;
 * - `add` of what exists is no error and changes nothing (a set's timeout and a base chain's policy
 *   excepted), unless it declares it differently: another kind, key type or flags, a regular chain made
 *   a base chain or another chain type ("File exists"), another hook or priority ("Operation not
 *   supported"); an element that exists with another verdict is "File exists";
 * - `flush` and `delete` of what does not exist, and `delete element` of a missing key, are "No such file
 *   or directory"; `delete` of a chain a rule or map element still jumps to, or of a set a rule still
 *   reads, is "Device or resource busy"; deleting a chain deletes its rules (and their references);
 * - a NAT statement is refused ("Operation not supported") once a base chain of another type or hook can
 *   reach it (through jumps, gotos and verdict maps): `dnat` needs `nat` prerouting or output,
 *   `masquerade` `nat` postrouting, `snat` `nat` postrouting or input;
 * - a rule that updates a set from the packet path makes it `dynamic` (so that a later `add set` without
 *   that flag is "File exists", as upstream notes).
 *
 * @module
 */
import type { NftBaseChainHook, NftFamily } from '../nft_listing.ts';
import type { Journal } from './nft_journal.ts';
import { type NatStatement, type ParsedRule, parseRule, type RuleContainerShape } from './nft_rule.ts';
import {
  type NftCommand,
  NftRefusal,
  type NftToken,
  TokenCursor,
  unexpected,
  unsupported,
} from './nft_script.ts';
import { keyType, type NftKeyType, type ParsedVerdict, parseKey, parseVerdict } from './nft_values.ts';

/** A rule in a chain. */
export interface FakeRule {
  readonly handle: number;
  readonly rule: ParsedRule;
}

/** A chain. */
export interface FakeChain {
  readonly name: string;
  readonly handle: number;
  base: NftBaseChainHook | undefined;
  readonly comment: string | undefined;
  rules: FakeRule[];
}

/** An element of a set or map, as nft lists it. */
export interface FakeElement {
  readonly key: readonly string[];
  /** A verdict map element's verdict (`goto x`, `drop`), an endpoint map element's `ADDR . PORT`. */
  readonly value: string | undefined;
  /** The chain a map element's verdict jumps or goes to. */
  readonly target: string | undefined;
  readonly comment: string | undefined;
}

/** A named set, verdict map or endpoint map. */
export interface FakeContainer extends RuleContainerShape {
  readonly name: string;
  readonly handle: number;
  flags: string[];
  timeoutSeconds: number | undefined;
  readonly comment: string | undefined;
  /** By key text (`a . b . c`). */
  readonly elements: Map<string, FakeElement>;
}

/** A table, with the references into its chains and sets that the kernel counts. */
export interface FakeTable {
  readonly family: NftFamily;
  readonly name: string;
  readonly handle: number;
  readonly comment: string | undefined;
  readonly chains: Map<string, FakeChain>;
  readonly containers: Map<string, FakeContainer>;
  nextHandle: number;
  /** chain → who jumps to it (`chain:NAME` for a rule of that chain, `map:NAME` for an element) → count. */
  readonly chainRefs: Map<string, Map<string, number>>;
  /** set or map → chains whose rules read it → count. */
  readonly containerRefs: Map<string, Map<string, number>>;
}

/** Every table, by `FAMILY NAME`. */
export interface RulesetData {
  readonly tables: Map<string, FakeTable>;
  nextTableHandle: number;
}

const ENOENT = 'Could not process rule: No such file or directory';
const EEXIST = 'Could not process rule: File exists';
const EBUSY = 'Could not process rule: Device or resource busy';
const EOPNOTSUPP = 'Could not process rule: Operation not supported';

/** The hooks a type of base chain may use. */
const CHAIN_TYPE_HOOKS: Readonly<Record<string, readonly string[]>> = {
  filter: ['prerouting', 'input', 'forward', 'output', 'postrouting'],
  nat: ['prerouting', 'input', 'output', 'postrouting'],
  route: ['output'],
};

/** The `nat` hooks each NAT statement may run in. */
const NAT_HOOKS: Readonly<Record<NatStatement, readonly string[]>> = {
  dnat: ['prerouting', 'output'],
  snat: ['postrouting', 'input'],
  masquerade: ['postrouting'],
};

function references(refs: Map<string, Map<string, number>>, to: string): number {
  let n = 0;
  for (const c of refs.get(to)?.values() ?? []) n += c;
  return n;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** The command as a whole, for errors nft reports about all of it. */
function whole(command: NftCommand): [NftToken, NftToken] {
  return [command.tokens[0]!, command.tokens.at(-1)!];
}

/**
 * Applies commands to the ruleset in place, each change through a journal, so that the fake can roll a
 * refused transaction (or a check) back.
 */
export class NftRuleset {
  /**
   * @param data the ruleset
   * @param journal where every change is recorded
   */
  constructor(
    readonly data: RulesetData,
    readonly journal: Journal,
  ) {}

  /**
   * Applies one command.
   *
   * @param command the command
   * @throws {NftRefusal} where nft would refuse it (what it changed before stays in the journal)
   */
  apply(command: NftCommand): void {
    const j = this.journal;
    const key = `${command.family} ${command.table.text}`;
    if (command.kind === 'add-table') {
      if (this.data.tables.has(key)) return;
      j.set(this.data.tables, key, {
        family: command.family,
        name: command.table.text,
        handle: this.data.nextTableHandle,
        comment: command.comment,
        chains: new Map(),
        containers: new Map(),
        nextHandle: 1,
        chainRefs: new Map(),
        containerRefs: new Map(),
      });
      j.assign(this.data, 'nextTableHandle', this.data.nextTableHandle + 1);
      return;
    }
    const table = this.data.tables.get(key);
    if (table === undefined) throw new NftRefusal(command.table, ENOENT);
    const edit = new TableEdit(table, j);
    switch (command.kind) {
      case 'delete-table':
        j.delete(this.data.tables, key);
        return;
      case 'add-chain':
        edit.addChain(command);
        return;
      case 'flush-chain':
        edit.flushChain(edit.existingChain(command.chain));
        return;
      case 'delete-chain': {
        const chain = edit.existingChain(command.chain);
        if (references(table.chainRefs, chain.name) > 0) throw new NftRefusal(command.chain, EBUSY);
        edit.flushChain(chain);
        j.delete(table.chains, chain.name);
        return;
      }
      case 'add-rule':
        edit.addRule(command.chain, command.body, whole(command));
        return;
      case 'add-container':
        edit.addContainer(command);
        return;
      case 'flush-container':
        edit.flushContainer(edit.existingContainer(command.container, command.name));
        return;
      case 'delete-container': {
        const container = edit.existingContainer(command.container, command.name);
        if (references(table.containerRefs, container.name) > 0) throw new NftRefusal(command.name, EBUSY);
        edit.flushContainer(container);
        j.delete(table.containers, container.name);
        return;
      }
      case 'add-elements':
      case 'delete-elements': {
        const container = table.containers.get(command.name.text);
        if (container === undefined) throw new NftRefusal(command.name, ENOENT);
        for (const tokens of command.elements) {
          if (command.kind === 'add-elements') edit.addElement(container, tokens);
          else edit.deleteElement(container, tokens);
        }
        return;
      }
      default: {
        const never: never = command;
        throw new Error(`Unknown command ${JSON.stringify(never)}`);
      }
    }
  }
}

/** The changes of one command to one table, each recorded in the journal. */
class TableEdit {
  constructor(
    readonly table: FakeTable,
    readonly j: Journal,
  ) {}

  existingChain(at: NftToken): FakeChain {
    const chain = this.table.chains.get(at.text);
    if (chain === undefined) throw new NftRefusal(at, ENOENT);
    return chain;
  }

  existingContainer(kind: 'set' | 'map', at: NftToken): FakeContainer {
    const container = this.table.containers.get(at.text);
    if (container === undefined || container.kind !== kind) throw new NftRefusal(at, ENOENT);
    return container;
  }

  /** The next object handle of the table (the kernel numbers chains, rules and sets alike). */
  #handle(): number {
    const handle = this.table.nextHandle;
    this.j.assign(this.table, 'nextHandle', handle + 1);
    return handle;
  }

  /** Counts a reference `from` → `to` up or down. */
  #count(refs: Map<string, Map<string, number>>, to: string, from: string, delta: number): void {
    const inner = refs.get(to) ?? new Map<string, number>();
    if (!refs.has(to)) this.j.set(refs, to, inner);
    const n = (inner.get(from) ?? 0) + delta;
    if (n > 0) this.j.set(inner, from, n);
    else this.j.delete(inner, from);
    if (inner.size === 0) this.j.delete(refs, to);
  }

  addChain(command: Extract<NftCommand, { kind: 'add-chain' }>): void {
    const existing = this.table.chains.get(command.chain.text);
    const spec = command.base;
    if (spec !== undefined && !CHAIN_TYPE_HOOKS[spec.type]?.includes(spec.hook)) {
      throw new NftRefusal(whole(command), EOPNOTSUPP);
    }
    const policy = spec?.policy ?? existing?.base?.policy ?? 'accept';
    const base =
      spec === undefined ? undefined : { type: spec.type, hook: spec.hook, priority: spec.priority, policy };
    if (existing === undefined) {
      const chain = {
        name: command.chain.text,
        handle: this.#handle(),
        base,
        comment: command.comment,
        rules: [],
      };
      this.j.set(this.table.chains, command.chain.text, chain);
      return;
    }
    if (base === undefined) return;
    if (existing.base === undefined || existing.base.type !== base.type) {
      throw new NftRefusal(command.chain, EEXIST);
    }
    if (existing.base.hook !== base.hook || existing.base.priority !== base.priority) {
      throw new NftRefusal(whole(command), EOPNOTSUPP);
    }
    this.j.assign(existing, 'base', base);
  }

  flushChain(chain: FakeChain): void {
    for (const { rule } of chain.rules) this.#countRule(chain.name, rule, -1);
    this.j.assign(chain, 'rules', []);
  }

  #countRule(chain: string, rule: ParsedRule, delta: number): void {
    for (const target of rule.chains) this.#count(this.table.chainRefs, target, `chain:${chain}`, delta);
    for (const container of rule.containers) this.#count(this.table.containerRefs, container, chain, delta);
  }

  addRule(at: NftToken, body: readonly NftToken[], command: [NftToken, NftToken]): void {
    const table = this.table;
    const chain = this.existingChain(at);
    const rule = parseRule(body, {
      family: table.family,
      chain(target) {
        const c = table.chains.get(target.text);
        if (c === undefined) throw new NftRefusal(target, 'No such file or directory');
        if (c.base !== undefined) throw new NftRefusal(target, EOPNOTSUPP);
      },
      container(ref, name) {
        const c = table.containers.get(name);
        if (c === undefined) throw new NftRefusal(ref, 'No such file or directory');
        return c;
      },
    });
    const targets = [...rule.chains, ...rule.containers.flatMap((name) => elementTargets(table, name))];
    if (!natAllowed(contexts(table, [chain.name]), [...rule.nat, ...natBehind(table, targets)])) {
      throw new NftRefusal(command, EOPNOTSUPP);
    }
    this.j.push(chain.rules, { handle: this.#handle(), rule });
    this.#countRule(chain.name, rule, 1);
    for (const name of rule.updates) {
      const set = table.containers.get(name)!;
      if (!set.flags.includes('dynamic')) this.j.assign(set, 'flags', [...set.flags, 'dynamic']);
    }
  }

  addContainer(command: Extract<NftCommand, { kind: 'add-container' }>): void {
    const { spec, name } = command;
    // A typeof declaration's types were derived (and checked) by the parser.
    const types =
      spec.declaredBy === 'typeof'
        ? (spec.keyType as NftKeyType[])
        : spec.keyType.map((t) => keyType(t, name));
    if (command.container === 'map' && spec.valueType !== 'verdict' && spec.declaredBy !== 'typeof') {
      throw unsupported(name, `map of ${spec.valueType ?? '?'} (kproxy writes verdict and endpoint maps)`);
    }
    const existing = this.table.containers.get(name.text);
    if (existing === undefined) {
      this.j.set(this.table.containers, name.text, {
        kind: command.container,
        name: name.text,
        handle: this.#handle(),
        keyType: types,
        valueType: spec.valueType,
        dataProtocol: spec.dataProtocol,
        flags: [...spec.flags],
        timeoutSeconds: spec.timeoutSeconds,
        comment: spec.comment,
        elements: new Map(),
      });
      return;
    }
    const same =
      existing.kind === command.container &&
      existing.keyType.join() === types.join() &&
      existing.valueType === spec.valueType &&
      existing.dataProtocol === spec.dataProtocol &&
      sameList(existing.flags, spec.flags);
    if (!same) throw new NftRefusal(name, EEXIST);
    if (spec.timeoutSeconds !== undefined) this.j.assign(existing, 'timeoutSeconds', spec.timeoutSeconds);
  }

  flushContainer(container: FakeContainer): void {
    for (const [key, e] of [...container.elements]) {
      if (e.target !== undefined) this.#count(this.table.chainRefs, e.target, `map:${container.name}`, -1);
      this.j.delete(container.elements, key);
    }
  }

  addElement(container: FakeContainer, tokens: readonly NftToken[]): void {
    const { key, keyText, comment, verdict, at } = splitElement(container, tokens);
    if (container.kind === 'set' && verdict !== undefined) {
      throw unexpected(
        tokens.find((t) => t.text === ':'),
        at[1],
      );
    }
    if (container.kind === 'map' && verdict === undefined) {
      throw new NftRefusal(at, 'Could not process rule: Invalid argument');
    }
    const target = verdict?.target?.text;
    if (target !== undefined) {
      const chain = this.table.chains.get(target);
      if (chain === undefined) throw new NftRefusal(at, ENOENT);
      if (chain.base !== undefined) throw new NftRefusal(at, EOPNOTSUPP);
    }
    const existing = container.elements.get(keyText);
    if (existing !== undefined) {
      if (existing.value !== verdict?.text) throw new NftRefusal(at, EEXIST);
      return;
    }
    if (target !== undefined) {
      const users = [...(this.table.containerRefs.get(container.name)?.keys() ?? [])];
      if (!natAllowed(contexts(this.table, users), natBehind(this.table, [target]))) {
        throw new NftRefusal(at, EOPNOTSUPP);
      }
      this.#count(this.table.chainRefs, target, `map:${container.name}`, 1);
    }
    this.j.set(container.elements, keyText, { key, value: verdict?.text, target, comment });
  }

  deleteElement(container: FakeContainer, tokens: readonly NftToken[]): void {
    const { keyText, verdict, at } = splitElement(container, tokens);
    if (verdict !== undefined) {
      throw unexpected(
        tokens.find((t) => t.text === ':'),
        at[1],
      );
    }
    const existing = container.elements.get(keyText);
    if (existing === undefined) throw new NftRefusal(at, ENOENT);
    if (existing.target !== undefined) {
      this.#count(this.table.chainRefs, existing.target, `map:${container.name}`, -1);
    }
    this.j.delete(container.elements, keyText);
  }
}

/** An element's key tokens, and the comment and verdict after them. */
function splitElement(container: FakeContainer, tokens: readonly NftToken[]) {
  const keyEnd = tokens.findIndex((t) => t.kind === 'string' || t.text === 'comment' || t.text === ':');
  const keyTokens = keyEnd < 0 ? tokens : tokens.slice(0, keyEnd);
  const c = new TokenCursor(keyEnd < 0 ? [] : tokens.slice(keyEnd));
  const comment = c.accept('comment') === undefined ? undefined : c.comment();
  if (c.peek()?.text === 'timeout' || c.peek()?.text === 'expires')
    throw unsupported(c.peek()!, 'element timeout');
  const verdict = c.accept(':') === undefined ? undefined : elementValue(container, c);
  c.end();
  if (keyTokens.length === 0) throw unexpected(tokens[0], tokens[0]!);
  const key = parseKey(container.keyType, keyTokens, container.flags.includes('interval'));
  return { key, keyText: key.join(' . '), comment, verdict, at: [keyTokens[0]!, keyTokens.at(-1)!] as const };
}

/** A map element's value: a verdict, or for an endpoint map an address and a port. */
function elementValue(container: FakeContainer, c: TokenCursor): ParsedVerdict {
  if (container.kind !== 'map' || container.valueType === 'verdict' || container.valueType === undefined) {
    return parseVerdict(c);
  }
  const types = container.valueType.split(' . ') as NftKeyType[];
  return { text: parseKey(types, c.rest(), false).join(' . '), target: undefined };
}

/** The chains a set's or map's elements jump or go to. */
function elementTargets(table: FakeTable, name: string): string[] {
  const targets: string[] = [];
  for (const e of table.containers.get(name)?.elements.values() ?? [])
    if (e.target !== undefined) targets.push(e.target);
  return targets;
}

/** The base chains (`type hook`) from which any of `chains` can be reached. */
function contexts(table: FakeTable, chains: readonly string[]): Set<string> {
  const found = new Set<string>();
  const seen = new Set<string>();
  const stack = [...chains];
  for (let name = stack.pop(); name !== undefined; name = stack.pop()) {
    if (seen.has(name)) continue;
    seen.add(name);
    const base = table.chains.get(name)?.base;
    if (base !== undefined) found.add(`${base.type} ${base.hook}`);
    for (const from of table.chainRefs.get(name)?.keys() ?? []) {
      if (from.startsWith('chain:')) stack.push(from.slice('chain:'.length));
      else stack.push(...(table.containerRefs.get(from.slice('map:'.length))?.keys() ?? []));
    }
  }
  return found;
}

/** The NAT statements in `chains` and in every chain they reach. */
function natBehind(table: FakeTable, chains: readonly string[]): NatStatement[] {
  const found = new Set<NatStatement>();
  const seen = new Set<string>();
  const stack = [...chains];
  for (let name = stack.pop(); name !== undefined; name = stack.pop()) {
    if (seen.has(name)) continue;
    seen.add(name);
    for (const { rule } of table.chains.get(name)?.rules ?? []) {
      for (const n of rule.nat) found.add(n);
      stack.push(...rule.chains, ...rule.containers.flatMap((c) => elementTargets(table, c)));
    }
  }
  return [...found];
}

function natAllowed(contexts: ReadonlySet<string>, nat: readonly NatStatement[]): boolean {
  for (const context of contexts) {
    const [type, hook = ''] = context.split(' ');
    for (const n of nat) if (type !== 'nat' || !NAT_HOOKS[n].includes(hook)) return false;
  }
  return true;
}
