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
import { type NatStatement, type ParsedRule, parseRule, type RuleContainerShape } from './nft_rule.ts';
import {
  type NftCommand,
  NftRefusal,
  type NftToken,
  TokenCursor,
  unexpected,
  unsupported,
} from './nft_script.ts';
import { keyType, parseKey, parseVerdict } from './nft_values.ts';

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
  /** A map element's verdict (`goto x`, `drop`). */
  readonly value: string | undefined;
  /** The chain a map element's verdict jumps or goes to. */
  readonly target: string | undefined;
  readonly comment: string | undefined;
}

/** A named set or verdict map. */
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

/** Every table, by `FAMILY NAME`. Plain data, so that a transaction works on a structuredClone of it. */
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

function count(refs: Map<string, Map<string, number>>, to: string, from: string, delta: number): void {
  const inner = refs.get(to) ?? new Map<string, number>();
  const n = (inner.get(from) ?? 0) + delta;
  if (n > 0) inner.set(from, n);
  else inner.delete(from);
  if (inner.size > 0) refs.set(to, inner);
  else refs.delete(to);
}

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
 * Applies commands to ruleset data, in place (the fake runs a transaction on a copy and keeps it only
 * when every command passed).
 */
export class NftRuleset {
  constructor(readonly data: RulesetData) {}

  /**
   * Applies one command.
   *
   * @param command the command
   * @throws {NftRefusal} where nft would refuse it
   */
  apply(command: NftCommand): void {
    const key = `${command.family} ${command.table.text}`;
    if (command.kind === 'add-table') {
      if (this.data.tables.has(key)) return;
      this.data.tables.set(key, {
        family: command.family,
        name: command.table.text,
        handle: this.data.nextTableHandle++,
        comment: command.comment,
        chains: new Map(),
        containers: new Map(),
        nextHandle: 1,
        chainRefs: new Map(),
        containerRefs: new Map(),
      });
      return;
    }
    const table = this.data.tables.get(key);
    if (table === undefined) throw new NftRefusal(command.table, ENOENT);
    switch (command.kind) {
      case 'delete-table':
        this.data.tables.delete(key);
        return;
      case 'add-chain':
        addChain(table, command);
        return;
      case 'flush-chain':
        flushChain(table, existingChain(table, command.chain));
        return;
      case 'delete-chain': {
        const chain = existingChain(table, command.chain);
        if (references(table.chainRefs, chain.name) > 0) throw new NftRefusal(command.chain, EBUSY);
        flushChain(table, chain);
        table.chains.delete(chain.name);
        return;
      }
      case 'add-rule':
        addRule(table, command.chain, command.body, whole(command));
        return;
      case 'add-container':
        addContainer(table, command);
        return;
      case 'flush-container':
        flushContainer(table, existingContainer(table, command.container, command.name));
        return;
      case 'delete-container': {
        const container = existingContainer(table, command.container, command.name);
        if (references(table.containerRefs, container.name) > 0) throw new NftRefusal(command.name, EBUSY);
        flushContainer(table, container);
        table.containers.delete(container.name);
        return;
      }
      case 'add-elements':
      case 'delete-elements': {
        const container = table.containers.get(command.name.text);
        if (container === undefined) throw new NftRefusal(command.name, ENOENT);
        for (const tokens of command.elements) {
          if (command.kind === 'add-elements') addElement(table, container, tokens);
          else deleteElement(table, container, tokens);
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

function existingChain(table: FakeTable, at: NftToken): FakeChain {
  const chain = table.chains.get(at.text);
  if (chain === undefined) throw new NftRefusal(at, ENOENT);
  return chain;
}

function existingContainer(table: FakeTable, kind: 'set' | 'map', at: NftToken): FakeContainer {
  const container = table.containers.get(at.text);
  if (container === undefined || container.kind !== kind) throw new NftRefusal(at, ENOENT);
  return container;
}

function addChain(table: FakeTable, command: Extract<NftCommand, { kind: 'add-chain' }>): void {
  const existing = table.chains.get(command.chain.text);
  const spec = command.base;
  if (spec !== undefined && !CHAIN_TYPE_HOOKS[spec.type]?.includes(spec.hook)) {
    throw new NftRefusal(whole(command), EOPNOTSUPP);
  }
  const policy = spec?.policy ?? existing?.base?.policy ?? 'accept';
  const base =
    spec === undefined ? undefined : { type: spec.type, hook: spec.hook, priority: spec.priority, policy };
  if (existing === undefined) {
    table.chains.set(command.chain.text, {
      name: command.chain.text,
      handle: table.nextHandle++,
      base,
      comment: command.comment,
      rules: [],
    });
    return;
  }
  if (base === undefined) return;
  if (existing.base === undefined || existing.base.type !== base.type)
    throw new NftRefusal(command.chain, EEXIST);
  if (existing.base.hook !== base.hook || existing.base.priority !== base.priority) {
    throw new NftRefusal(whole(command), EOPNOTSUPP);
  }
  existing.base = base;
}

function flushChain(table: FakeTable, chain: FakeChain): void {
  for (const { rule } of chain.rules) countRule(table, chain.name, rule, -1);
  chain.rules = [];
}

function countRule(table: FakeTable, chain: string, rule: ParsedRule, delta: number): void {
  for (const target of rule.chains) count(table.chainRefs, target, `chain:${chain}`, delta);
  for (const container of rule.containers) count(table.containerRefs, container, chain, delta);
}

function addRule(
  table: FakeTable,
  at: NftToken,
  body: readonly NftToken[],
  command: [NftToken, NftToken],
): void {
  const chain = existingChain(table, at);
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
  chain.rules.push({ handle: table.nextHandle++, rule });
  countRule(table, chain.name, rule, 1);
  for (const name of rule.updates) {
    const set = table.containers.get(name)!;
    if (!set.flags.includes('dynamic')) set.flags = [...set.flags, 'dynamic'];
  }
}

function addContainer(table: FakeTable, command: Extract<NftCommand, { kind: 'add-container' }>): void {
  const { spec, name } = command;
  const types = spec.keyType.map((t) => keyType(t, name));
  if (command.container === 'map' && spec.valueType !== 'verdict') {
    throw unsupported(name, `map of ${spec.valueType ?? '?'} (kproxy writes verdict maps)`);
  }
  const existing = table.containers.get(name.text);
  if (existing === undefined) {
    table.containers.set(name.text, {
      kind: command.container,
      name: name.text,
      handle: table.nextHandle++,
      keyType: types,
      valueType: spec.valueType,
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
    sameList(existing.flags, spec.flags);
  if (!same) throw new NftRefusal(name, EEXIST);
  if (spec.timeoutSeconds !== undefined) existing.timeoutSeconds = spec.timeoutSeconds;
}

function flushContainer(table: FakeTable, container: FakeContainer): void {
  for (const e of container.elements.values()) {
    if (e.target !== undefined) count(table.chainRefs, e.target, `map:${container.name}`, -1);
  }
  container.elements.clear();
}

/** An element's key tokens, and the comment and verdict after them. */
function splitElement(container: FakeContainer, tokens: readonly NftToken[]) {
  const keyEnd = tokens.findIndex((t) => t.kind === 'string' || t.text === 'comment' || t.text === ':');
  const keyTokens = keyEnd < 0 ? tokens : tokens.slice(0, keyEnd);
  const c = new TokenCursor(keyEnd < 0 ? [] : tokens.slice(keyEnd));
  const comment = c.accept('comment') === undefined ? undefined : c.comment();
  if (c.peek()?.text === 'timeout' || c.peek()?.text === 'expires')
    throw unsupported(c.peek()!, 'element timeout');
  const verdict = c.accept(':') === undefined ? undefined : parseVerdict(c);
  c.end();
  if (keyTokens.length === 0) throw unexpected(tokens[0], tokens[0]!);
  const key = parseKey(container.keyType, keyTokens, container.flags.includes('interval'));
  return { key, keyText: key.join(' . '), comment, verdict, at: [keyTokens[0]!, keyTokens.at(-1)!] as const };
}

function addElement(table: FakeTable, container: FakeContainer, tokens: readonly NftToken[]): void {
  const { key, keyText, comment, verdict, at } = splitElement(container, tokens);
  if (container.kind === 'set' && verdict !== undefined)
    throw unexpected(
      tokens.find((t) => t.text === ':'),
      at[1],
    );
  if (container.kind === 'map' && verdict === undefined) {
    throw new NftRefusal(at, 'Could not process rule: Invalid argument');
  }
  const target = verdict?.target?.text;
  if (target !== undefined) {
    const chain = table.chains.get(target);
    if (chain === undefined) throw new NftRefusal(at, ENOENT);
    if (chain.base !== undefined) throw new NftRefusal(at, EOPNOTSUPP);
  }
  const existing = container.elements.get(keyText);
  if (existing !== undefined) {
    if (existing.value !== verdict?.text) throw new NftRefusal(at, EEXIST);
    return;
  }
  if (target !== undefined) {
    const users = [...(table.containerRefs.get(container.name)?.keys() ?? [])];
    if (!natAllowed(contexts(table, users), natBehind(table, [target]))) throw new NftRefusal(at, EOPNOTSUPP);
    count(table.chainRefs, target, `map:${container.name}`, 1);
  }
  container.elements.set(keyText, { key, value: verdict?.text, target, comment });
}

function deleteElement(table: FakeTable, container: FakeContainer, tokens: readonly NftToken[]): void {
  const { keyText, verdict, at } = splitElement(container, tokens);
  if (verdict !== undefined)
    throw unexpected(
      tokens.find((t) => t.text === ':'),
      at[1],
    );
  const existing = container.elements.get(keyText);
  if (existing === undefined) throw new NftRefusal(at, ENOENT);
  if (existing.target !== undefined) count(table.chainRefs, existing.target, `map:${container.name}`, -1);
  container.elements.delete(keyText);
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
