/**
 * The `nft -f` script of a sync, as pure functions of plans (and, for a full sync, of what the kernel
 * table holds): each is one transaction.
 *
 * - **Full**: the whole plan as render.ts prints it (every planned object declared, flushed and written),
 *   then the stale objects: chains, sets and maps the table holds that the plan lacks (found by listing
 *   the table after a start or a failure, else the previous plan's). Stale sets and maps are deleted;
 *   stale chains are only flushed, and returned, for the applier to delete in a later transaction, as
 *   upstream does: kernels before 6.2 release a chain that a map element pointed at only some time after
 *   the element is gone, and refuse to delete it in the same transaction. A base chain whose hook or
 *   priority differs from the plan's (an older kproxy, or upstream's kube-proxy) is deleted at the start
 *   and declared anew.
 * - **Partial**: only the difference between the applied plan and the next one, in an order nft accepts:
 *   new sets and maps, new chains, flushes of changed and stale chains, their rules, element deletions,
 *   element additions, then the stale sets and maps. Service ports that the next plan kept as they were
 *   (the same objects) cost nothing; a one-endpoint change is one or two element lines. The script
 *   starts by flushing the (always empty) canary set, which nft refuses when the set or the table is
 *   gone: the transaction is its own canary check, and a table deleted behind kproxy's back costs no
 *   listing before every partial sync.
 *
 * @module
 */
import type { NftBaseChainHook, NftTableState } from '../../kernel/nft_listing.ts';
import { NFT_NAMES } from './names.ts';
import type { NftablesPlan } from './plan.ts';
import {
  chainCommands,
  containerCommand,
  elementCommand,
  renderNftablesPlan,
  ruleCommands,
} from './render.ts';
import { elementText, ruleText } from './rule_text.ts';
import {
  containerObject,
  type NftBaseChain,
  type NftChain,
  type NftContainer,
  type NftElement,
} from './ruleset.ts';
import type { NftServicePort } from './service_port.ts';

/** One transaction's script. */
export interface SyncScript {
  readonly text: string;
  readonly lines: number;
  /** Service ports whose objects it writes or deletes. */
  readonly servicePortsWritten: number;
  /** Chains it flushes because no plan has them any more: to delete once it went through. */
  readonly staleChains: readonly StaleChain[];
}

/** A chain to delete: its name, and whether it is a base chain (declared with a hook). */
export interface StaleChain {
  readonly name: string;
  readonly base: boolean;
}

/** What kproxy knows the kernel table holds: from a listing, or from the plan it applied last. */
export interface TableObjects {
  /** Chain name → its hook (undefined for a regular chain). */
  readonly chains: ReadonlyMap<string, Pick<NftBaseChainHook, 'type' | 'hook' | 'priority'> | undefined>;
  /**
   * Set or map name → its kind and, when known (from a plan), its declaration, which lets a deletion
   * go through whether or not the object still exists (nft's add-then-delete idiom).
   */
  readonly containers: ReadonlyMap<string, { readonly object: 'set' | 'map'; readonly declaration?: string }>;
}

function allChains(plan: NftablesPlan): NftChain[] {
  const out: NftChain[] = [...plan.baseChains, ...plan.chains];
  for (const sp of plan.servicePorts.values()) out.push(...sp.chains);
  return out;
}

function allContainers(plan: NftablesPlan): NftContainer[] {
  const out: NftContainer[] = [...plan.containers];
  for (const sp of plan.servicePorts.values()) out.push(...sp.affinitySets);
  return out;
}

function isBase(c: NftChain): c is NftBaseChain {
  return 'hook' in c;
}

/**
 * What a plan puts into the table.
 *
 * @param plan the plan (as applied)
 * @returns its chains and containers, with their declarations
 * @example tableObjectsOfPlan(applied).chains.has('services') // true
 */
export function tableObjectsOfPlan(plan: NftablesPlan): TableObjects {
  return {
    chains: new Map(
      allChains(plan).map((c) => [
        c.name,
        isBase(c) ? { type: c.type, hook: c.hook, priority: c.priority } : undefined,
      ]),
    ),
    containers: new Map(
      allContainers(plan).map((c) => [
        c.name,
        { object: containerObject(c), declaration: containerCommand(plan, c) },
      ]),
    ),
  };
}

/**
 * What a listing of the table shows.
 *
 * @param table `nft -j list table` read back (undefined: there is no table)
 * @returns its chains and containers (declarations unknown)
 * @example tableObjectsOfListing(await nft.listTable('ip', 'kube-proxy'))
 */
export function tableObjectsOfListing(table: NftTableState | undefined): TableObjects {
  return {
    chains: new Map([...(table?.chains.values() ?? [])].map((c) => [c.name, c.base])),
    containers: new Map([...(table?.containers.values() ?? [])].map((c) => [c.name, { object: c.kind }])),
  };
}

function script(
  sections: readonly (readonly string[])[],
  servicePortsWritten: number,
  staleChains: readonly StaleChain[],
): SyncScript {
  const lines = sections.flat();
  return {
    text: lines.length === 0 ? '' : `${lines.join('\n')}\n`,
    lines: lines.length,
    servicePortsWritten,
    staleChains,
  };
}

/**
 * The cleanup transaction: deletes chains that earlier syncs flushed and no plan has. A regular chain is
 * declared first, so that one someone else deleted meanwhile is no error (nft's add-then-delete idiom).
 *
 * @param family the table's family
 * @param table the table
 * @param chains the chains
 * @returns the script
 * @example await nft.apply(cleanupScript('ip', 'kube-proxy', stale).text)
 */
export function cleanupScript(family: string, table: string, chains: readonly StaleChain[]): SyncScript {
  const t = `${family} ${table}`;
  return script(
    [chains.flatMap((c) => [...(c.base ? [] : [`add chain ${t} ${c.name}`]), `delete chain ${t} ${c.name}`])],
    0,
    [],
  );
}

/**
 * The script of a full sync.
 *
 * @param plan the plan to apply
 * @param existing what the table holds now (undefined: nothing, e.g. no table)
 * @returns the script: the plan, then the deletion of stale objects
 * @example await nft.apply(fullSyncScript(plan, tableObjectsOfListing(listed)).text)
 */
export function fullSyncScript(plan: NftablesPlan, existing: TableObjects | undefined): SyncScript {
  const t = `${plan.family} ${plan.table}`;
  const planned = tableObjectsOfPlan(plan);
  const redeclared: string[] = [];
  const staleChains: string[] = [];
  for (const [name, hook] of existing?.chains ?? []) {
    const wanted = planned.chains.get(name);
    if (!planned.chains.has(name)) staleChains.push(name);
    else if (hook !== undefined || wanted !== undefined) {
      const same =
        hook !== undefined &&
        wanted !== undefined &&
        hook.type === wanted.type &&
        hook.hook === wanted.hook &&
        hook.priority === wanted.priority;
      // A base chain cannot change its hook or priority, nor a regular chain become one: re-create it.
      if (!same) redeclared.push(`delete chain ${t} ${name}`);
    }
  }
  const unused = new Set(plan.unusedContainers.map((c) => c.name));
  const staleContainers = [...(existing?.containers ?? [])].filter(
    ([name]) => !planned.containers.has(name) && !unused.has(name),
  );
  const rendered = renderNftablesPlan(plan);
  const head = redeclared.length === 0 ? '' : `${redeclared.join('\n')}\n`;
  const stale = [
    ...staleChains.flatMap((name) =>
      existing?.chains.get(name) === undefined
        ? [`add chain ${t} ${name}`, `flush chain ${t} ${name}`]
        : [`flush chain ${t} ${name}`],
    ),
    ...staleContainers.flatMap(([name, c]) => [
      ...(c.declaration === undefined ? [] : [c.declaration]),
      `delete ${c.object} ${t} ${name}`,
    ]),
  ];
  const tail = stale.length === 0 ? '' : `\n${stale.join('\n')}\n`;
  const text = `${head}${rendered}${tail}`;
  return {
    text,
    lines: text.split('\n').length - 1,
    servicePortsWritten: plan.servicePorts.size,
    staleChains: staleChains.map((name) => ({ name, base: existing?.chains.get(name) !== undefined })),
  };
}

function sameRules(plan: NftablesPlan, a: NftChain, b: NftChain): boolean {
  if (a === b) return true;
  if (a.rules.length !== b.rules.length || a.comment !== b.comment) return false;
  return a.rules.every((r, i) => ruleText(r, plan.family) === ruleText(b.rules[i]!, plan.family));
}

/** The chain and container changes of a partial sync, gathered before they are ordered. */
class PartialChanges {
  readonly declare: string[] = [];
  readonly addChains: string[] = [];
  readonly flush: string[] = [];
  readonly rules: string[] = [];
  readonly staleChains: StaleChain[] = [];
  readonly deleteContainers: string[] = [];

  constructor(readonly plan: NftablesPlan) {}

  /** Brings chains `before` to `after` (by name). */
  chains(before: readonly NftChain[], after: readonly NftChain[]): void {
    const t = `${this.plan.family} ${this.plan.table}`;
    const old = new Map(before.map((c) => [c.name, c]));
    for (const c of after) {
      const was = old.get(c.name);
      old.delete(c.name);
      if (was !== undefined && sameRules(this.plan, was, c)) continue;
      if (was === undefined) this.addChains.push(chainCommands(this.plan, c)[0]!);
      else this.flush.push(`flush chain ${t} ${c.name}`);
      this.rules.push(...ruleCommands(this.plan, c));
    }
    for (const [name, c] of old) {
      this.flush.push(`flush chain ${t} ${name}`);
      this.staleChains.push({ name, base: isBase(c) });
    }
  }

  /** Declares containers `after` has and `before` lacks; deletes those `before` has and `after` lacks. */
  containers(before: readonly NftContainer[], after: readonly NftContainer[], declareAll = false): void {
    const t = `${this.plan.family} ${this.plan.table}`;
    const old = new Map(before.map((c) => [c.name, c]));
    for (const c of after) {
      if (declareAll || !old.has(c.name)) this.declare.push(containerCommand(this.plan, c));
      old.delete(c.name);
    }
    for (const c of old.values()) this.deleteContainers.push(`delete ${containerObject(c)} ${t} ${c.name}`);
  }
}

/** The element deletions and additions that bring a container from `before` to `after` (changed ones: both). */
function elementChanges(
  plan: NftablesPlan,
  before: NftContainer | undefined,
  after: NftContainer,
): { deleted: string[]; added: string[] } {
  const old = new Map((before?.elements ?? []).map((e) => [e.key.join(' . '), e]));
  const added: NftElement[] = [];
  for (const e of after.elements) {
    const key = e.key.join(' . ');
    const was = old.get(key);
    if (was !== undefined && elementText(was) === elementText(e)) old.delete(key);
    else added.push(e);
  }
  return {
    deleted: elementCommand(plan, 'delete', after.name, [...old.values()]),
    added: elementCommand(plan, 'add', after.name, added),
  };
}

/**
 * The script of a partial sync: what changed between two plans.
 *
 * @param applied the plan the kernel holds
 * @param next the plan to apply (re-planned from `applied`, so that unchanged parts are the same objects)
 * @returns the script (empty text when nothing changed)
 * @example const s = partialSyncScript(applied, next); if (s.lines > 0) await nft.apply(s.text)
 */
export function partialSyncScript(applied: NftablesPlan, next: NftablesPlan): SyncScript {
  const changes = new PartialChanges(next);
  changes.containers(applied.containers, next.containers);
  changes.chains([...applied.baseChains, ...applied.chains], [...next.baseChains, ...next.chains]);
  let written = 0;
  const servicePort = (before: NftServicePort | undefined, after: NftServicePort | undefined): void => {
    written++;
    // Affinity sets are declared again with the service port (a new timeout takes effect).
    changes.containers(before?.affinitySets ?? [], after?.affinitySets ?? [], true);
    changes.chains(before?.chains ?? [], after?.chains ?? []);
  };
  for (const [key, after] of next.servicePorts) {
    const before = applied.servicePorts.get(key);
    if (before !== after) servicePort(before, after);
  }
  for (const [key, before] of applied.servicePorts) {
    if (!next.servicePorts.has(key)) servicePort(before, undefined);
  }
  const deletedElements: string[] = [];
  const addedElements: string[] = [];
  const t = `${next.family} ${next.table}`;
  const old = new Map(applied.containers.map((c) => [c.name, c]));
  for (const c of next.containers) {
    const was = old.get(c.name);
    if (was === c) continue;
    const { deleted, added } = elementChanges(next, was, c);
    deletedElements.push(...deleted);
    addedElements.push(...added);
  }
  const body = [
    changes.declare,
    changes.addChains,
    changes.flush,
    changes.rules,
    deletedElements,
    addedElements,
    changes.deleteContainers,
  ];
  if (body.every((section) => section.length === 0)) return script([], 0, []);
  return script([[canaryCheck(t)], ...body], written, changes.staleChains);
}

/**
 * The first line of a partial script: flushes the empty canary set, and fails the transaction when the
 * set (or the table) is gone.
 *
 * @param table `FAMILY NAME` of the table
 * @returns the command
 * @example canaryCheck('ip kube-proxy') // 'flush set ip kube-proxy canary'
 */
export function canaryCheck(table: string): string {
  return `flush set ${table} ${NFT_NAMES.canary}`;
}
