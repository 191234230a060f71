/**
 * A strict in-memory {@link ConntrackTable}: entries a test puts in, deletions applied with the real
 * tool's semantics (only entries to the address and port whose reply comes from that same address), and
 * every call recorded.
 *
 * @module
 */
import type { IPFamily } from '../../model/types.ts';
import type { ConntrackEntry, ConntrackTable, UnnatedTarget } from '../conntrack_table.ts';

/** The fake table. */
export class FakeConntrackTable implements ConntrackTable {
  readonly entries = new Map<IPFamily, ConntrackEntry[]>([
    ['IPv4', []],
    ['IPv6', []],
  ]);
  /** Every call, as `list IPv4` or `delete IPv4 tcp 198.19.0.5:80`. */
  readonly calls: string[] = [];

  /** Adds an entry of `family`. */
  add(family: IPFamily, entry: ConntrackEntry): void {
    this.entries.get(family)!.push(entry);
  }

  async list(family: IPFamily): Promise<ConntrackEntry[]> {
    this.calls.push(`list ${family}`);
    return [...this.entries.get(family)!];
  }

  async deleteRedirected(t: UnnatedTarget & { readonly replyPort: number }): Promise<void> {
    this.calls.push(`delete-redirected ${t.family} ${t.protocol} ${t.ip}:${t.port} -> ${t.replyPort}`);
    this.#drop(t, (e) => e.reply.sport === t.replyPort);
  }

  async deleteUnnated(t: UnnatedTarget): Promise<void> {
    if (!['tcp', 'udp', 'sctp'].includes(t.protocol))
      throw new Error(`conntrack: bad protocol ${t.protocol}`);
    this.calls.push(`delete ${t.family} ${t.protocol} ${t.ip}:${t.port}`);
    this.#drop(t, (e) => e.reply.src === t.ip);
  }

  /** Drops the family's entries of the protocol to `ip:port` whose reply matches too. */
  #drop(t: UnnatedTarget, reply: (e: ConntrackEntry) => boolean): void {
    const kept = this.entries
      .get(t.family)!
      .filter(
        (e) =>
          !(e.protocol === t.protocol && e.original.dst === t.ip && e.original.dport === t.port && reply(e)),
      );
    this.entries.set(t.family, kept);
  }
}
