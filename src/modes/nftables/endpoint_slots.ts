/**
 * Where policy chains pick their endpoints: each chain that picks through an endpoint map holds a *slot*,
 * a range of {@link SLOT_KEYS} keys in the endpoint maps of its protocol, and its rule is `dnat ip to
 * numgen random mod N offset SLOT*SLOT_KEYS map @endpoints-PROTO-GROUP`, GROUP being SLOT /
 * {@link SLOTS_PER_MAP}.
 *
 * Why not one map per service port, or one map for all: measured with nft 1.0.6 on Linux 6.x (see
 * docs/nftables-mode.md), 10 000 named maps cost 11 s to create (the kernel finds sets by name in a
 * list), and one map read by 10 000 rules costs 15 s (the kernel checks every element against every rule
 * that reads the map, when either is added). Groups of 64 service ports keep both small.
 *
 * Slots are plan state, decided here purely: a fresh plan numbers the chains in key order; a plan that
 * reuses an earlier one keeps every chain's slot and gives new chains the lowest free ones, so that a
 * partial sync touches only the elements of the chains that changed.
 *
 * @module
 */
import type { NftProtocol } from './ruleset.ts';

/** Keys per slot: a chain picks among at most this many endpoints through an endpoint map. */
export const SLOT_KEYS = 65536;

/** Slots per endpoint map. */
export const SLOTS_PER_MAP = 64;

/** Slots per protocol: the keys of every slot fit numgen's 32-bit result. */
export const MAX_SLOTS = 65536;

/** A chain's slot. */
export interface EndpointSlot {
  readonly protocol: NftProtocol;
  readonly slot: number;
}

/**
 * The first key of a slot (numgen's `offset`).
 *
 * @param slot the slot
 * @returns `slot * SLOT_KEYS`
 * @example slotOffset(2) // 131072
 */
export function slotOffset(slot: number): number {
  return slot * SLOT_KEYS;
}

/**
 * The group (endpoint map number) of a slot.
 *
 * @param slot the slot
 * @returns `floor(slot / SLOTS_PER_MAP)`
 * @example slotGroup(70) // 1
 */
export function slotGroup(slot: number): number {
  return Math.floor(slot / SLOTS_PER_MAP);
}

/** Slots in use, per protocol. */
export type SlotsTaken = ReadonlyMap<NftProtocol, ReadonlySet<number>>;

/**
 * Copies slots in use, so that a new plan can change them without touching the old plan's.
 *
 * @param taken the slots
 * @returns a mutable copy
 */
export function copySlots(taken: SlotsTaken): Map<NftProtocol, Set<number>> {
  return new Map([...taken].map(([protocol, slots]) => [protocol, new Set(slots)]));
}

/**
 * Hands out slots per protocol: a chain gets its earlier slot back when it asks for it, any other chain
 * the lowest slot that is neither taken nor some chain's earlier one.
 */
export class EndpointSlots {
  readonly #taken: Map<NftProtocol, Set<number>>;
  readonly #lowestFree = new Map<NftProtocol, number>();
  readonly #earlier: ReadonlyMap<string, EndpointSlot>;

  /**
   * @param taken slots of chains kept as they were from the earlier plan (this allocator adds to it)
   * @param earlier the slots of the earlier plan's chains that this plan re-plans; each stays free for
   *   its own chain
   */
  constructor(
    taken: Map<NftProtocol, Set<number>> = new Map(),
    earlier: ReadonlyMap<string, EndpointSlot> = new Map(),
  ) {
    this.#taken = taken;
    this.#earlier = earlier;
    for (const s of earlier.values()) this.#takenOf(s.protocol).add(s.slot);
  }

  #takenOf(protocol: NftProtocol): Set<number> {
    let taken = this.#taken.get(protocol);
    if (taken === undefined) {
      taken = new Set();
      this.#taken.set(protocol, taken);
    }
    return taken;
  }

  /**
   * The slot of a chain: its earlier one if it had one, else the lowest free one.
   *
   * @param protocol the chain's protocol
   * @param chain the chain's name
   * @returns the slot, or undefined when every slot of the protocol is taken
   */
  take(protocol: NftProtocol, chain: string): number | undefined {
    const earlier = this.#earlier.get(chain);
    if (earlier !== undefined && earlier.protocol === protocol) return earlier.slot;
    const taken = this.#takenOf(protocol);
    let slot = this.#lowestFree.get(protocol) ?? 0;
    while (taken.has(slot)) slot++;
    if (slot >= MAX_SLOTS) return undefined;
    taken.add(slot);
    this.#lowestFree.set(protocol, slot + 1);
    return slot;
  }
}
