/**
 * Folds source events into immutable {@link ProxyState} snapshots. Like upstream's change trackers it
 * holds diffs, not actions: events only mark services dirty (remembering when each was first seen);
 * {@link ProxyStateTracker.snapshot} rebuilds just the dirty services and reports which service ports
 * really changed, dropping changes that net out to nothing.
 *
 * This node's topology is an input too: {@link ProxyStateTracker.setNodeTopology} takes the node's zone
 * (its `topology.kubernetes.io/zone` label), which decides which EndpointSlice zone hints apply (see
 * ./topology.ts). It may change at run time; a change marks every service dirty, since any of them may
 * have hints. Until it is set the node has no zone, and zone hints are ignored, as upstream does for a node
 * without the label. (The daemon does not feed it yet: the Node object will.)
 *
 * When a change was first seen feeds the network-programming-latency metric (`StateChange.firstSeen`). For
 * an EndpointSlice that carries `endpoints.kubernetes.io/last-change-trigger-time` it is that time (when a
 * pod became ready, say, not when the event reached us), as upstream's endpoints change tracker measures;
 * a trigger time from before the tracker started is ignored, as upstream ignores it (the initial list would
 * otherwise report the age of every slice), and the event's time is used.
 *
 * @module
 */
import type {
  EndpointSliceSpec,
  NodeTopology,
  ProxyState,
  ServicePortKey,
  ServicePortState,
  ServiceSpec,
  StateChange,
} from '../model/types.ts';
import type { SourceEvent } from '../sources/source.ts';
import { buildServicePorts } from './service_port_builder.ts';

/** Options of {@link ProxyStateTracker}. */
export interface ProxyStateTrackerOptions {
  /** This proxy's node name, for endpoint locality and node hints. */
  readonly nodeName: string;
  /** This node's topology labels at start (default: no zone); see {@link ProxyStateTracker.setNodeTopology}. */
  readonly topology?: NodeTopology | undefined;
  /**
   * When the tracker started (epoch ms, default `Date.now()`): EndpointSlice trigger times before it are
   * ignored, as upstream's `trackerStartTime`.
   */
  readonly startedAt?: number | undefined;
}

/** A snapshot and what changed since the previous one. */
export interface Snapshot {
  readonly state: ProxyState;
  readonly change: StateChange;
}

type ServiceId = string; // namespace/name

function sliceKey(slice: { namespace: string; name: string; legacy: boolean }): string {
  return `${slice.legacy ? 'Endpoints' : 'EndpointSlice'}/${slice.namespace}/${slice.name}`;
}

/**
 * The change tracker: feed it {@link SourceEvent}s with {@link handle}, take snapshots when the runner
 * says so.
 *
 * @example
 * const tracker = new ProxyStateTracker({ nodeName: 'node-a' });
 * tracker.handle(event);
 * if (tracker.synced && tracker.pending) await proxier.sync(...Object.values(tracker.snapshot()));
 */
export class ProxyStateTracker {
  readonly #nodeName: string;
  readonly #startedAt: number;
  #topology: NodeTopology;
  readonly #services = new Map<ServiceId, ServiceSpec>();
  readonly #slices = new Map<string, EndpointSliceSpec>();
  readonly #slicesByService = new Map<ServiceId, Set<string>>();
  /** Dirty services and when their oldest unsynced change was seen. */
  #dirty = new Map<ServiceId, number>();
  #serviceEvents = 0;
  #endpointEvents = 0;
  #synced = false;
  #version = 0;
  #ports: ReadonlyMap<ServicePortKey, ServicePortState> = new Map();
  readonly #portsByService = new Map<ServiceId, readonly ServicePortKey[]>();

  constructor(options: ProxyStateTrackerOptions) {
    this.#nodeName = options.nodeName;
    this.#startedAt = options.startedAt ?? Date.now();
    this.#topology = { zone: options.topology?.zone || undefined };
  }

  /** This node's topology labels as last set. */
  get nodeTopology(): NodeTopology {
    return this.#topology;
  }

  /**
   * Sets this node's topology labels (from the Node object). A change of zone marks every service dirty:
   * zone hints are matched against it.
   *
   * @param topology the node's zone (`topology.kubernetes.io/zone`; undefined or empty: none)
   * @param at when the change was seen (epoch ms), for the programming-latency metric
   * @returns true when the zone changed (a sync is worth asking for)
   * @example if (tracker.setNodeTopology({ zone: 'zone-a' })) runner.run();
   */
  setNodeTopology(topology: NodeTopology, at: number = Date.now()): boolean {
    // An empty label value is no zone, as upstream reads a missing label as "".
    const zone = topology.zone || undefined;
    if (zone === this.#topology.zone) return false;
    this.#topology = { zone };
    for (const id of this.#services.keys()) this.#markDirty(id, at);
    return true;
  }

  /** True once the source has delivered its initial list. */
  get synced(): boolean {
    return this.#synced;
  }

  /** True when events arrived since the last snapshot. */
  get pending(): boolean {
    return this.#dirty.size > 0;
  }

  /** When the oldest change not yet in a snapshot was seen (epoch ms), or undefined. */
  get pendingSince(): number | undefined {
    let oldest: number | undefined;
    for (const at of this.#dirty.values()) if (oldest === undefined || at < oldest) oldest = at;
    return oldest;
  }

  /** Numbers of service and endpoint events not yet in a snapshot. */
  get pendingEvents(): { readonly services: number; readonly endpoints: number } {
    return { services: this.#serviceEvents, endpoints: this.#endpointEvents };
  }

  /**
   * Records one event.
   *
   * @param event from a source
   * @returns true when the event may change the state (a sync is worth asking for)
   */
  handle(event: SourceEvent): boolean {
    switch (event.type) {
      case 'synced':
        this.#synced = true;
        return true;
      case 'problem':
        return false;
      case 'add':
      case 'update': {
        const { object } = event;
        if (object.kind === 'Service') {
          const id = `${object.spec.namespace}/${object.spec.name}`;
          this.#services.set(id, object.spec);
          this.#serviceEvents++;
          this.#markDirty(id, event.at);
        } else {
          const key = sliceKey(object.spec);
          const at = this.#changeTime(object.spec, event.at);
          const previous = this.#slices.get(key);
          if (previous !== undefined) this.#unindexSlice(key, previous, at);
          this.#slices.set(key, object.spec);
          const id = `${object.spec.namespace}/${object.spec.serviceName}`;
          let set = this.#slicesByService.get(id);
          if (set === undefined) {
            set = new Set();
            this.#slicesByService.set(id, set);
          }
          set.add(key);
          this.#endpointEvents++;
          this.#markDirty(id, at);
        }
        return true;
      }
      case 'delete': {
        const { ref } = event;
        if (ref.kind === 'Service') {
          const id = `${ref.namespace}/${ref.name}`;
          if (!this.#services.delete(id)) return false;
          this.#serviceEvents++;
          this.#markDirty(id, event.at);
        } else {
          const key = sliceKey(ref);
          const previous = this.#slices.get(key);
          if (previous === undefined) return false;
          this.#slices.delete(key);
          this.#unindexSlice(key, previous, event.at);
          this.#endpointEvents++;
        }
        return true;
      }
      default: {
        const never: never = event;
        throw new Error(`Unknown source event: ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * Takes a new immutable snapshot, rebuilding only dirty services.
   *
   * @returns the state and what changed since the previous snapshot
   */
  snapshot(): Snapshot {
    const changed = new Set<ServicePortKey>();
    const removed = new Set<ServicePortKey>();
    const firstSeen = new Map<ServicePortKey, number>();
    const next = new Map(this.#ports);
    let keysChanged = false;
    for (const [id, at] of this.#dirty) {
      const before = this.#portsByService.get(id) ?? [];
      const service = this.#services.get(id);
      const built =
        service === undefined
          ? []
          : buildServicePorts(service, this.#slicesOf(id), this.#nodeName, this.#topology);
      const after = built.map((p) => p.key);
      for (const key of before) {
        if (!after.includes(key)) {
          next.delete(key);
          changed.add(key);
          removed.add(key);
          firstSeen.set(key, at);
          keysChanged = true;
        }
      }
      for (const port of built) {
        const old = next.get(port.key);
        if (old === undefined) keysChanged = true;
        if (old === undefined || !samePortState(old, port)) {
          next.set(port.key, port);
          changed.add(port.key);
          firstSeen.set(port.key, at);
        }
      }
      if (built.length === 0) this.#portsByService.delete(id);
      else this.#portsByService.set(id, after);
    }
    if (keysChanged) this.#ports = sortedByKey(next);
    else if (changed.size > 0) this.#ports = next;
    const change: StateChange = {
      changed,
      removed,
      firstSeen,
      serviceEvents: this.#serviceEvents,
      endpointEvents: this.#endpointEvents,
    };
    this.#dirty = new Map();
    this.#serviceEvents = 0;
    this.#endpointEvents = 0;
    this.#version++;
    const state: ProxyState = {
      version: this.#version,
      nodeName: this.#nodeName,
      servicePorts: this.#ports,
      nodeZone: this.#topology.zone,
    };
    return { state, change };
  }

  /** When a slice's change happened: its trigger time when it has one from after the start, else `seen`. */
  #changeTime(slice: EndpointSliceSpec, seen: number): number {
    const trigger = slice.lastChangeTriggerTime;
    return trigger !== undefined && trigger > this.#startedAt ? trigger : seen;
  }

  #markDirty(id: ServiceId, at: number): void {
    const seen = this.#dirty.get(id);
    if (seen === undefined || at < seen) this.#dirty.set(id, at);
  }

  /** Forgets a slice's link to its service (its service label may change) and marks that service dirty. */
  #unindexSlice(key: string, slice: EndpointSliceSpec, at: number): void {
    const id = `${slice.namespace}/${slice.serviceName}`;
    this.#slicesByService.get(id)?.delete(key);
    this.#markDirty(id, at);
  }

  #slicesOf(id: ServiceId): EndpointSliceSpec[] {
    const keys = [...(this.#slicesByService.get(id) ?? [])].sort();
    const out: EndpointSliceSpec[] = [];
    for (const key of keys) {
      const slice = this.#slices.get(key);
      if (slice !== undefined) out.push(slice);
    }
    return out;
  }
}

/**
 * The map in key order (modes plan service ports in that order). Sorts the keys alone: no pair array per
 * entry, and the default sort compares strings as `<` does.
 */
function sortedByKey(
  ports: ReadonlyMap<ServicePortKey, ServicePortState>,
): Map<ServicePortKey, ServicePortState> {
  const keys = [...ports.keys()].sort();
  return new Map(keys.map((key) => [key, ports.get(key)!]));
}

/**
 * Value equality of two service port states, which are plain data (strings, numbers, booleans, arrays
 * and records of them). Compared field by field rather than as JSON texts: a resync after a relist
 * compares every service port of the cluster.
 */
function samePortState(a: ServicePortState, b: ServicePortState): boolean {
  return samePlainData(a, b);
}

function samePlainData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!samePlainData(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k of ka) if (!Object.hasOwn(rb, k) || !samePlainData(ra[k], rb[k])) return false;
  return true;
}
