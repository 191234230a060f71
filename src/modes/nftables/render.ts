/**
 * Prints an {@link NftablesPlan} as `nft -f` input: what `kproxy rules --proxy-mode nftables` shows and
 * what a full sync sends, as one transaction (nft applies a file atomically: all of it or nothing).
 *
 * The form, chosen so that the same commands serve partial syncs (the applier composes them from the
 * exported pieces below):
 * - `add` for the table, chains, sets and maps: it creates what is missing and leaves what exists, so
 *   the script works on an empty host and on one that already has kproxy's table, without `delete
 *   table` (which would lose the affinity sets' entries and open a window with no rules);
 * - `flush chain` right after each `add chain`, then its `add rule`s: a chain's content is replaced as a
 *   whole (a changed service port's chains in a partial sync);
 * - `flush set` / `flush map` then one `add element` per container (every element on its own line, one
 *   command for all of them: as readable, and a little faster for nft to parse than one command per
 *   element); a partial sync sends `add element` / `delete element` for the difference instead. Affinity
 *   sets are never flushed: their entries are the clients' affinity;
 * - objects are declared before they are referenced (sets and maps, fixed chains, then each service
 *   port's block, then the elements whose verdicts name the service chains).
 * Not here, because they depend on what the kernel holds rather than on the plan: deleting per-service
 * chains and affinity sets of service ports that are gone, and re-creating base chains whose hook or
 * priority changed; the applier appends those to the same transaction.
 *
 * @module
 */
import type { NftablesPlan } from './plan.ts';
import { elementText, ruleText } from './rule_text.ts';
import {
  containerObject,
  type NftBaseChain,
  type NftChain,
  type NftContainer,
  type NftElement,
} from './ruleset.ts';
import type { NftServicePort } from './service_port.ts';

/** The table an object belongs to, as every command names it (`ip kube-proxy`). */
function tableOf(plan: NftablesPlan): string {
  return `${plan.family} ${plan.table}`;
}

/**
 * The table's declaration.
 *
 * @param plan the plan
 * @returns `add table ip kube-proxy { comment "..." ; }`
 * @example tableCommand(plan)
 */
export function tableCommand(plan: NftablesPlan): string {
  return `add table ${tableOf(plan)} { comment "${plan.tableComment}" ; }`;
}

/**
 * A set's or map's declaration.
 *
 * @param plan the plan (for the table)
 * @param c the set or map
 * @returns `add set|map ip kube-proxy NAME { type ... ; [flags ... ; timeout Ns ;] [comment "..." ;] }`
 * @example containerCommand(plan, plan.containers[0]!)
 */
export function containerCommand(plan: NftablesPlan, c: NftContainer): string {
  const parts: string[] = [];
  switch (c.kind) {
    case 'set':
      parts.push(`type ${c.keyType.join(' . ')} ;`);
      break;
    case 'map':
      parts.push(`type ${c.keyType.join(' . ')} : verdict ;`);
      break;
    case 'endpoint-map':
      // typeof: numgen's value has no type name to write (`integer` is refused in a declaration), and
      // `PROTO dport` rather than `th dport`, which nft 1.0.6 cannot read back from the kernel once a
      // rule maps through the map ("conflicting protocols"): hence one map of pairs per protocol. A map
      // of addresses alone costs nft a third less to load (100 000 elements: ~0.38 s against ~0.59 s).
      parts.push(
        c.withPorts
          ? `typeof numgen random mod 1 : ${plan.family} daddr . ${c.protocol} dport ;`
          : `typeof numgen random mod 1 : ${plan.family} daddr ;`,
      );
      break;
    default: {
      const never: never = c;
      throw new TypeError(`Unknown container ${JSON.stringify(never)}`);
    }
  }
  if (c.kind === 'set' && c.timeoutSeconds !== undefined) {
    // `dynamic` too: the kernel adds it to a set the packet path updates, and a later `add set` without
    // it would then be refused as a change of flags (upstream's note).
    parts.push('flags dynamic,timeout ;', `timeout ${c.timeoutSeconds}s ;`);
  }
  if (c.comment !== undefined) parts.push(`comment "${c.comment}" ;`);
  return `add ${containerObject(c)} ${tableOf(plan)} ${c.name} { ${parts.join(' ')} }`;
}

function isBaseChain(c: NftChain): c is NftBaseChain {
  return 'hook' in c;
}

/**
 * A chain's declaration and flush: afterwards it exists and is empty, whatever it held.
 *
 * @param plan the plan (for the table)
 * @param c the chain
 * @returns `add chain ...` and `flush chain ...`
 * @example chainCommands(plan, plan.chains[0]!)
 */
export function chainCommands(plan: NftablesPlan, c: NftChain): string[] {
  const props: string[] = [];
  if (isBaseChain(c)) props.push(`type ${c.type} hook ${c.hook} priority ${c.priority} ;`);
  if (c.comment !== undefined) props.push(`comment "${c.comment}" ;`);
  const body = props.length === 0 ? '' : ` { ${props.join(' ')} }`;
  return [`add chain ${tableOf(plan)} ${c.name}${body}`, `flush chain ${tableOf(plan)} ${c.name}`];
}

/**
 * A chain's rules.
 *
 * @param plan the plan (for the table and family)
 * @param c the chain
 * @returns one `add rule` per rule, in order
 * @example ruleCommands(plan, plan.chains[0]!)
 */
export function ruleCommands(plan: NftablesPlan, c: NftChain): string[] {
  const lines: string[] = [];
  appendRuleCommands(lines, plan, tableOf(plan), c);
  return lines;
}

/**
 * One command adding (or deleting) elements of a set or map; nothing for no elements.
 *
 * @param plan the plan (for the table)
 * @param verb `add`, or `delete` (keys only)
 * @param container the set's or map's name
 * @param elements the elements
 * @returns the command's lines (none when there are no elements)
 * @example elementCommand(plan, 'delete', 'service-ips', removed)
 */
export function elementCommand(
  plan: NftablesPlan,
  verb: 'add' | 'delete',
  container: string,
  elements: readonly NftElement[],
): string[] {
  const lines: string[] = [];
  appendElementCommand(lines, tableOf(plan), verb, container, elements);
  return lines;
}

/**
 * Appends {@link elementCommand}'s lines to `lines`. A full sync writes every element of the plan (about
 * 10 elements per service port): one line each, with no array per container in between.
 */
function appendElementCommand(
  lines: LineSink,
  table: string,
  verb: 'add' | 'delete',
  container: string,
  elements: readonly NftElement[],
): void {
  if (elements.length === 0) return;
  lines.push(`${verb} element ${table} ${container} {`);
  const last = elements.length - 1;
  for (let i = 0; i <= last; i++) {
    const e = elements[i]!;
    const text = verb === 'add' ? elementText(e) : e.key.join(' . ');
    lines.push(i < last ? `\t${text},` : `\t${text}`);
  }
  lines.push('}');
}

/** Appends a chain's declaration and flush ({@link chainCommands}). */
function appendChainCommands(lines: LineSink, plan: NftablesPlan, table: string, c: NftChain): void {
  if (!isBaseChain(c) && c.comment === undefined) {
    // Every service port's chain: no properties, so no array to build them in.
    lines.push(`add chain ${table} ${c.name}`, `flush chain ${table} ${c.name}`);
  } else {
    lines.push(...chainCommands(plan, c));
  }
}

/** Appends a chain's rules ({@link ruleCommands}). */
function appendRuleCommands(lines: LineSink, plan: NftablesPlan, table: string, c: NftChain): void {
  for (const r of c.rules) lines.push(`add rule ${table} ${c.name} ${ruleText(r, plan.family)}`);
}

/** Appends {@link servicePortCommands}'s lines to `lines`. */
function appendServicePort(lines: LineSink, plan: NftablesPlan, table: string, sp: NftServicePort): void {
  if (sp.chains.length === 0 && sp.affinitySets.length === 0) return;
  lines.push(`# ${sp.comment} (${sp.protocol})`);
  for (const s of sp.affinitySets) lines.push(containerCommand(plan, s));
  for (const c of sp.chains) appendChainCommands(lines, plan, table, c);
  for (const c of sp.chains) appendRuleCommands(lines, plan, table, c);
}

/**
 * Everything one service port declares, as in a full sync or when a partial sync replaces it: its
 * affinity sets, its chains (added and flushed), their rules. Its elements are the shared containers'.
 *
 * @param plan the plan
 * @param sp the service port
 * @returns the commands, headed by a `#` line naming the service port
 * @example servicePortCommands(plan, plan.servicePorts.get(key)!)
 */
export function servicePortCommands(plan: NftablesPlan, sp: NftServicePort): string[] {
  const lines: string[] = [];
  appendServicePort(lines, plan, tableOf(plan), sp);
  return lines;
}

/** Where the render functions write lines: an array, or a {@link ScriptLines}. */
type LineSink = Pick<string[], 'push'>;

/**
 * The script's lines, in sections set apart by a blank line; a section without lines leaves no trace.
 *
 * A full sync at 10 000 service ports is some 160 000 lines. Joined in blocks as they come, each line
 * (and the pieces it was made of) is garbage before the next young-generation collection; kept in one
 * array until the end, every one of them survives and is copied by the collector (measured: GC was two
 * thirds of render time).
 */
class ScriptLines implements LineSink {
  static readonly #BLOCK_LINES = 2048;
  readonly #blocks: string[] = [];
  #block: string[] = [];
  #sectionHasLines = false;
  #blankPending = false;
  /** Lines in #blocks. */
  #count = 0;

  /** Adds lines to the current section; returns how many lines the script has (as an array's push). */
  push(...lines: string[]): number {
    if (lines.length === 0) return this.#count;
    if (this.#blankPending) {
      this.#blankPending = false;
      this.#block.push('');
    }
    for (const line of lines) this.#block.push(line);
    this.#sectionHasLines = true;
    if (this.#block.length >= ScriptLines.#BLOCK_LINES) this.#flush();
    return this.#count + this.#block.length;
  }

  /** Ends the current section: a blank line comes before the next line, if any. */
  endSection(): void {
    if (this.#sectionHasLines) this.#blankPending = true;
    this.#sectionHasLines = false;
  }

  /** The text: every line ended by a newline. */
  text(): string {
    this.#flush();
    return this.#blocks.join('');
  }

  #flush(): void {
    if (this.#block.length === 0) return;
    this.#blocks.push(`${this.#block.join('\n')}\n`);
    this.#count += this.#block.length;
    this.#block = [];
  }
}

/**
 * Renders a plan as the `nft -f` input of a full sync.
 *
 * @param plan the plan
 * @returns the script (one transaction)
 * @example process.stdout.write(renderNftablesPlan(planNftables(state, options)))
 */
export function renderNftablesPlan(plan: NftablesPlan): string {
  const t = tableOf(plan);
  const script = new ScriptLines();
  const fixedChains = [...plan.baseChains, ...plan.chains];
  script.push(tableCommand(plan));
  script.endSection();
  for (const c of plan.containers) script.push(containerCommand(plan, c));
  script.endSection();
  for (const c of fixedChains) appendChainCommands(script, plan, t, c);
  script.endSection();
  for (const c of plan.containers) script.push(`flush ${containerObject(c)} ${t} ${c.name}`);
  for (const c of plan.unusedContainers) {
    // Declared first, so that deleting a set that is not there is not an error (upstream's add+delete).
    script.push(containerCommand(plan, c), `delete ${containerObject(c)} ${t} ${c.name}`);
  }
  script.endSection();
  for (const c of fixedChains) appendRuleCommands(script, plan, t, c);
  script.endSection();
  for (const sp of plan.servicePorts.values()) {
    appendServicePort(script, plan, t, sp);
    script.endSection();
  }
  for (const c of plan.containers) appendElementCommand(script, t, 'add', c.name, c.elements);
  return script.text();
}
