/**
 * A recording {@link Conntrack} for tests: every deletion as a readable line, optional failures.
 *
 * @module
 */
import type { Conntrack } from '../conntrack.ts';

/** The recording fake. */
export class FakeConntrack implements Conntrack {
  /** e.g. `service-nat 172.30.0.10 10.180.0.5`, in call order. */
  readonly calls: string[] = [];
  /** When set, every call records and then fails with it. */
  failWith: Error | undefined;

  async #record(line: string): Promise<void> {
    this.calls.push(line);
    if (this.failWith !== undefined) throw this.failWith;
  }

  deleteUdpToServiceIP(serviceIP: string): Promise<void> {
    return this.#record(`service-ip ${serviceIP}`);
  }

  deleteUdpToNodePort(nodePort: number): Promise<void> {
    return this.#record(`node-port ${nodePort}`);
  }

  deleteUdpServiceNat(serviceIP: string, endpointIP: string): Promise<void> {
    return this.#record(`service-nat ${serviceIP} ${endpointIP}`);
  }

  deleteUdpNodePortNat(nodePort: number, endpointIP: string): Promise<void> {
    return this.#record(`node-port-nat ${nodePort} ${endpointIP}`);
  }
}
