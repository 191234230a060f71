/**
 * The userspace relay's load balancer for one listener: round-robin over the usable endpoints, with
 * sessionAffinity ClientIP (a client keeps its endpoint until `timeoutSeconds` pass without a new
 * connection from it, or until that endpoint is gone), as upstream's `roundrobin.go`.
 *
 * One addition: a backend the relay saw fail ({@link Balancer.markFailed}: the UDP relay, when a backend
 * answers port-unreachable) is passed over by new picks for a short while, unless every backend is. The
 * kernel sends at most about one ICMP error a second to a peer, so the relay cannot count on hearing of
 * every datagram sent to a dead server; without this, every flow the round-robin gave it in between
 * would be lost.
 *
 * @module
 */
import type { Endpoint, SessionAffinity } from '../../model/types.ts';

/** Where the relay connects: an endpoint reduced to what a socket needs. */
export interface Backend {
  readonly ip: string;
  readonly port: number;
  /** `ip:port` (`[ip]:port` for IPv6): identity for affinity and logs. */
  readonly address: string;
}

/** Picks backends for the relays (the {@link Balancer} does). */
export interface BackendPicker {
  pick(clientIP: string, retry: boolean): Backend | undefined;
  /** New picks pass over this backend for `forMs` (unless every backend is passed over). */
  markFailed?(backend: Backend, forMs: number): void;
  /** False when picks ignore the client address (no affinity): the relay then skips getpeername. */
  readonly usesClientIP?: boolean | undefined;
}

/** Reads the time (ms). The relay passes the real clock; tests a fake one. */
export interface NowSource {
  now(): number;
}

interface Sticky {
  backend: Backend;
  lastUsed: number;
}

/**
 * Turns endpoints into backends.
 *
 * @param endpoints endpoints from the proxy state
 * @returns one backend each, in the same order
 * @example toBackends(sp.internalEndpoints)
 */
export function toBackends(endpoints: readonly Endpoint[]): Backend[] {
  return endpoints.map((e) => ({
    ip: e.ip,
    port: e.port,
    address: e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`,
  }));
}

/**
 * Round-robin with optional ClientIP affinity.
 *
 * @example
 * const lb = new Balancer({ now: () => Date.now() });
 * lb.update(toBackends(sp.internalEndpoints), sp.sessionAffinity);
 * const backend = lb.pick('10.1.0.5', false);
 */
export class Balancer implements BackendPicker {
  #backends: readonly Backend[] = [];
  #addresses = new Set<string>();
  #index = 0;
  #affinityMs = 0;
  readonly #sticky = new Map<string, Sticky>();
  /** Backends passed over until a time, by address. */
  readonly #failedUntil = new Map<string, number>();
  readonly #clock: NowSource;

  constructor(clock: NowSource) {
    this.#clock = clock;
  }

  /** False without affinity: picks then ignore the client address (the relay skips looking it up). */
  get usesClientIP(): boolean {
    return this.#affinityMs > 0;
  }

  /** The current backends, in round-robin order. */
  get backends(): readonly Backend[] {
    return this.#backends;
  }

  /** Number of clients with a live affinity entry (expired ones may linger until {@link sweep}). */
  get stickyClients(): number {
    return this.#sticky.size;
  }

  /**
   * Replaces the endpoints and the affinity setting. The round-robin position is kept when the set is
   * unchanged; affinity entries for endpoints that are gone are dropped (those clients move on).
   *
   * @param backends the usable backends, in a stable order
   * @param affinity the service's session affinity
   */
  update(backends: readonly Backend[], affinity: SessionAffinity): void {
    const same =
      backends.length === this.#backends.length &&
      backends.every((b, i) => b.address === this.#backends[i]?.address);
    const affinityMs = affinity.type === 'ClientIP' ? affinity.timeoutSeconds * 1000 : 0;
    if (affinityMs === 0) this.#sticky.clear();
    this.#affinityMs = affinityMs;
    if (same) return;
    this.#backends = backends;
    this.#addresses = new Set(backends.map((b) => b.address));
    if (this.#index >= backends.length) this.#index = 0;
    for (const [client, sticky] of this.#sticky) {
      if (!this.#addresses.has(sticky.backend.address)) this.#sticky.delete(client);
    }
    for (const address of this.#failedUntil.keys()) {
      if (!this.#addresses.has(address)) this.#failedUntil.delete(address);
    }
  }

  /**
   * Passes over a backend in new picks for a while (a client with affinity to it moves on at its next
   * pick), unless every backend is passed over.
   *
   * @param backend the backend that failed
   * @param forMs for how long
   */
  markFailed(backend: Backend, forMs: number): void {
    if (!this.#addresses.has(backend.address)) return;
    this.#failedUntil.set(backend.address, this.#clock.now() + forMs);
  }

  /**
   * Picks the backend for a new connection (or a new UDP flow) from `clientIP`.
   *
   * @param clientIP the client's address (the affinity key)
   * @param retry true when the previous pick failed for this client: its affinity is reset, so it moves on
   * @returns a backend, or undefined when there is none
   */
  pick(clientIP: string, retry: boolean): Backend | undefined {
    const backends = this.#backends;
    const n = backends.length;
    if (n === 0) return undefined;
    if (this.#affinityMs > 0) {
      const now = this.#clock.now();
      const sticky = this.#sticky.get(clientIP);
      if (
        sticky !== undefined &&
        !retry &&
        now - sticky.lastUsed < this.#affinityMs &&
        !this.#passedOver(sticky.backend, now)
      ) {
        sticky.lastUsed = now;
        return sticky.backend;
      }
      const backend = this.#next(backends, n);
      if (sticky === undefined) this.#sticky.set(clientIP, { backend, lastUsed: now });
      else {
        sticky.backend = backend;
        sticky.lastUsed = now;
      }
      return backend;
    }
    return this.#next(backends, n);
  }

  #next(backends: readonly Backend[], n: number): Backend {
    let backend = backends[this.#index]!;
    this.#index = this.#index + 1 === n ? 0 : this.#index + 1;
    if (this.#failedUntil.size === 0) return backend;
    const now = this.#clock.now();
    for (let tried = 1; tried < n && this.#passedOver(backend, now); tried++) {
      backend = backends[this.#index]!;
      this.#index = this.#index + 1 === n ? 0 : this.#index + 1;
    }
    return backend;
  }

  /** Whether new picks pass over the backend now (forgets it once the time is over). */
  #passedOver(backend: Backend, now: number): boolean {
    const until = this.#failedUntil.get(backend.address);
    if (until === undefined) return false;
    if (now < until) return true;
    this.#failedUntil.delete(backend.address);
    return false;
  }

  /** Drops affinity entries idle for longer than the timeout (the memory of clients that went away). */
  sweep(): void {
    if (this.#affinityMs === 0) return;
    const now = this.#clock.now();
    for (const [client, sticky] of this.#sticky) {
      if (now - sticky.lastUsed >= this.#affinityMs) this.#sticky.delete(client);
    }
  }
}
