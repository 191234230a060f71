/**
 * The connection-tracking table as `conntrack -L` prints it, and the one deletion that heals it after an
 * outage: entries to a service address that were created without NAT (while kproxy's rules were missing)
 * and that later connections from the same client port would reuse, bypassing the restored rules (the nat
 * table is consulted only for a connection's first packet). Behind the {@link ConntrackTable} seam, so that
 * proxiers are tested without root.
 *
 * @module
 */
import type { IPFamily } from '../model/types.ts';
import { runConntrackDelete } from './conntrack.ts';
import type { Exec } from './exec.ts';
import { KernelError } from './exec.ts';

/** One direction of a tracked connection. */
export interface ConntrackTuple {
  readonly src: string;
  readonly dst: string;
  /** 0 for protocols without ports. */
  readonly sport: number;
  readonly dport: number;
}

/** One entry of `conntrack -L`. */
export interface ConntrackEntry {
  /** `tcp`, `udp`, `sctp`, `icmp`... as conntrack names it. */
  readonly protocol: string;
  readonly original: ConntrackTuple;
  readonly reply: ConntrackTuple;
}

/** Un-NATed entries to one service address and port, deleted in one `conntrack -D`. */
export interface UnnatedTarget {
  readonly family: IPFamily;
  /** `tcp`, `udp` or `sctp`. */
  readonly protocol: string;
  /** The service address (cluster, external or load-balancer IP, or a node IP for a NodePort). */
  readonly ip: string;
  readonly port: number;
}

/** The connection-tracking table, as much of it as kproxy reads and changes. */
export interface ConntrackTable {
  /** Every entry of one family (`conntrack -L -f ipv4|ipv6`). */
  list(family: IPFamily): Promise<ConntrackEntry[]>;
  /**
   * Deletes the entries to `ip:port` whose reply comes from that same address and port, i.e. that no
   * DNAT rewrote (`conntrack -D --orig-dst IP --orig-port-dst PORT --reply-src IP`): connections that
   * kproxy's rules did handle are never touched.
   */
  deleteUnnated(target: UnnatedTarget): Promise<void>;
  /**
   * Deletes the entries to `ip:port` that a REDIRECT or DNAT sent to local port `replyPort`
   * (`conntrack -D --orig-dst IP --orig-port-dst PORT --reply-port-src REPLYPORT`): the userspace mode's
   * connections to a proxy port that no process listens on any more (a restarted relay listens on others).
   */
  deleteRedirected(target: UnnatedTarget & { readonly replyPort: number }): Promise<void>;
}

const TUPLE_KEYS = ['src', 'dst', 'sport', 'dport'] as const;

/**
 * Parses `conntrack -L` output (the default format): `PROTO NUM [TIMEOUT] [STATE] src= dst= sport= dport=
 * [flags] src= dst= sport= dport= ...`; lines it cannot read (the summary line, ICMP entries without
 * ports) are skipped.
 *
 * @param text the output
 * @returns the entries
 * @example parseConntrackListing('tcp 6 117 SYN_SENT src=198.18.0.1 dst=198.19.0.5 sport=50658 dport=80 [UNREPLIED] src=198.19.0.5 dst=198.18.0.1 sport=80 dport=50658 mark=0 use=1')
 */
export function parseConntrackListing(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    const protocol = words[0];
    if (protocol === undefined || !/^[a-z0-9]+$/.test(protocol) || words.length < 9) continue;
    const tuples: Record<string, string>[] = [];
    let current: Record<string, string> = {};
    for (const word of words) {
      const eq = word.indexOf('=');
      if (eq < 0) continue;
      const key = word.slice(0, eq);
      if (!(TUPLE_KEYS as readonly string[]).includes(key)) continue;
      if (key === 'src' && 'src' in current) {
        tuples.push(current);
        current = {};
      }
      current[key] = word.slice(eq + 1);
    }
    tuples.push(current);
    const [o, r] = tuples;
    if (o === undefined || r === undefined) continue;
    const tuple = (t: Record<string, string>): ConntrackTuple | undefined =>
      t.src === undefined || t.dst === undefined
        ? undefined
        : { src: t.src, dst: t.dst, sport: Number(t.sport ?? 0), dport: Number(t.dport ?? 0) };
    const original = tuple(o);
    const reply = tuple(r);
    if (original === undefined || reply === undefined) continue;
    out.push({ protocol, original, reply });
  }
  return out;
}

function familyArg(family: IPFamily): string {
  return family === 'IPv6' ? 'ipv6' : 'ipv4';
}

/**
 * The real table, through `conntrack` (conntrack-tools).
 *
 * @param exec the command seam (run in the proxy's network namespace)
 * @returns the table
 * @example await createConntrackTable(exec).list('IPv4')
 */
export function createConntrackTable(exec: Exec): ConntrackTable {
  return {
    async list(family) {
      const args = ['-L', '-f', familyArg(family)];
      const r = await exec('conntrack', args);
      if (r.code !== 0) throw new KernelError(['conntrack', ...args].join(' '), r.code, r.stderr);
      return parseConntrackListing(r.stdout);
    },
    async deleteRedirected(t) {
      await deleteTo(exec, t, ['--reply-port-src', String(t.replyPort)]);
    },
    async deleteUnnated(t) {
      await deleteTo(exec, t, ['--reply-src', t.ip]);
    },
  };
}

/** Deletes the entries of one protocol to `ip:port` whose reply also matches `reply` (conntrack filters). */
async function deleteTo(exec: Exec, t: UnnatedTarget, reply: readonly string[]): Promise<void> {
  const args = ['-D', '-f', familyArg(t.family), '-p', t.protocol, '--orig-dst', t.ip];
  await runConntrackDelete(exec, [...args, '--orig-port-dst', String(t.port), ...reply]);
}
