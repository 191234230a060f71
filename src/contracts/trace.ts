/**
 * The contract of `kproxy trace`: a packet in, a verdict, the backends it may reach and the path out. Every
 * mode's tracer returns exactly this, so that modes can be compared packet by packet.
 *
 * @module
 */
import type { Protocol } from '../model/types.ts';

/** A packet for `kproxy trace`. */
export interface TracePacket {
  readonly source: string;
  readonly destination: string;
  readonly port: number;
  readonly protocol: Protocol;
  /**
   * The interface the packet came in on (`--in-interface`), for `--detect-local-mode` BridgeInterface and
   * InterfaceNamePrefix; undefined when unknown (a trace then says that it could not decide).
   */
  readonly inInterface?: string | undefined;
}

/** Where a traced packet ends. */
export type TraceVerdict = 'DNAT' | 'REJECT' | 'DROP' | 'ACCEPT' | 'NONE';

/** The result of tracing one packet through a plan (`kproxy trace --json` prints exactly this). */
export interface TraceResult {
  readonly verdict: TraceVerdict;
  readonly masquerade: boolean;
  /** Every backend the packet may reach, with its probability (sums to 1 when non-empty). */
  readonly backends: readonly { readonly address: string; readonly probability: number }[];
  /** Human-readable steps: chains and rules walked, or the virtual server hit. */
  readonly path: readonly string[];
}
