/**
 * Validates a core/v1 Node (the JSON shape of `V1Node`, from a manifest or the API server) and reduces it
 * to the {@link NodeSpec} kube-proxy reads of its own Node: topology labels, addresses, pod CIDRs, and
 * whether it is going away (upstream `cmd/kube-proxy/app/server.go`, `pkg/proxy/node.go`,
 * `pkg/util/node.GetNodeHostIPs`).
 *
 * @module
 */
import type {
  V1Node,
  V1NodeAddress,
  V1NodeSpec,
  V1NodeStatus,
  V1ObjectMeta,
  V1Taint,
} from '@kubernetes/client-node';
import {
  canonicalCidr,
  describe,
  FieldReader,
  isAbsent,
  isDns1123Subdomain,
  isLabelValue,
  isRecord,
  type Untrusted,
} from './_field_checks.ts';
import type { IPFamily } from './types.ts';
import type { Validated } from './validated.ts';

/** The well-known label with the node's zone (what EndpointSlice zone hints name). */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** The well-known label with the node's region. */
export const REGION_LABEL = 'topology.kubernetes.io/region';

/** A taint of the node (only its key matters to kproxy: `ToBeDeletedByClusterAutoscaler`). */
export interface NodeTaintSpec {
  readonly key: string;
  readonly value: string;
  readonly effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** What kproxy reads of its own Node object. */
export interface NodeSpec {
  readonly name: string;
  /** `topology.kubernetes.io/zone`; undefined when absent or empty. */
  readonly zone: string | undefined;
  /** `topology.kubernetes.io/region`; undefined when absent or empty. */
  readonly region: string | undefined;
  /**
   * The node's own IPs as upstream's `GetNodeHostIPs` picks them: its `InternalIP` addresses in the
   * order the kubelet reported them, or its `ExternalIP` ones when it has no InternalIP; no duplicates.
   */
  readonly addresses: readonly string[];
  /** `spec.podCIDRs` (or the older single `spec.podCIDR`), canonical; empty when none is allocated. */
  readonly podCIDRs: readonly string[];
  /** True once `metadata.deletionTimestamp` is set: the node is being deleted. */
  readonly deleting: boolean;
  readonly taints: readonly NodeTaintSpec[];
}

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

/**
 * Validates a Node. Every problem is reported (`ok: false`): a bad label value, address, pod CIDR or
 * taint makes the version invalid, so that a source keeps the last good one (the API server never
 * stores such a Node; a hand-written manifest may).
 *
 * @param obj the untrusted object, shaped like `V1Node`
 * @param file where it came from, for problems (undefined for the API server)
 * @returns the validated spec, or every problem found
 * @example
 * validateNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a',
 *   labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
 *   status: { addresses: [{ type: 'InternalIP', address: '198.18.0.1' }] } }, 'node.yaml')
 * // { ok: true, value: { name: 'node-a', zone: 'zone-a', addresses: ['198.18.0.1'], ... } }
 */
export function validateNode(obj: unknown, file: string | undefined): Validated<NodeSpec> {
  if (!isRecord(obj)) {
    const reader = new FieldReader({ file, kind: 'Node', namespace: '', name: '' });
    reader.report('KPROXY_SHAPE', '', `not a mapping: got ${describe(obj)}`);
    return { ok: false, problems: reader.problems };
  }
  const root = obj as Untrusted<V1Node>;
  const metadata = isRecord(root.metadata) ? (root.metadata as Untrusted<V1ObjectMeta>) : {};
  const rawName = metadata.name;
  const nameOk = typeof rawName === 'string' && isDns1123Subdomain(rawName);
  // A Node is cluster-scoped: no namespace in its problems.
  const reader = new FieldReader({
    file,
    kind: 'Node',
    namespace: '',
    name: nameOk || isAbsent(rawName) || rawName === '' ? String(rawName ?? '') : describe(rawName),
  });
  reader.record(root.metadata, 'metadata');
  if (isAbsent(rawName) || rawName === '') reader.field('metadata.name', 'required');
  else if (!nameOk) reader.field('metadata.name', `not a DNS-1123 subdomain: ${describe(rawName)}`);
  const labels = reader.stringMap(metadata.labels, 'metadata.labels');
  const zone = readLabel(reader, labels, ZONE_LABEL);
  const region = readLabel(reader, labels, REGION_LABEL);
  const deletion = metadata.deletionTimestamp;
  // A string on the wire; a Date when a client deserialized the object.
  if (!isAbsent(deletion) && typeof deletion !== 'string' && !(deletion instanceof Date)) {
    reader.field('metadata.deletionTimestamp', `must be a timestamp, got ${describe(deletion)}`);
  }
  const spec = reader.record<V1NodeSpec>(root.spec, 'spec') ?? {};
  const podCIDRs = readPodCIDRs(reader, spec);
  const taints = readTaints(reader, spec);
  const status = reader.record<V1NodeStatus>(root.status, 'status') ?? {};
  const addresses = readAddresses(reader, status);
  if (reader.problems.length > 0) return { ok: false, problems: reader.problems };
  return {
    ok: true,
    value: {
      name: rawName as string,
      zone,
      region,
      addresses,
      podCIDRs,
      deleting: !isAbsent(deletion) && deletion !== '',
      taints,
    },
  };
}

function readLabel(
  reader: FieldReader,
  labels: Readonly<Record<string, string>>,
  key: string,
): string | undefined {
  const value = labels[key];
  if (value === undefined || value === '') return undefined;
  if (isLabelValue(value)) return value;
  reader.field(`metadata.labels[${JSON.stringify(key)}]`, `not a label value: ${describe(value)}`);
  return undefined;
}

function readPodCIDRs(reader: FieldReader, spec: Untrusted<V1NodeSpec>): string[] {
  const list = reader.list(spec.podCIDRs, 'spec.podCIDRs');
  // Nodes written before dual-stack carry only the singular field.
  const raw: { value: unknown; field: string }[] =
    list !== undefined && list.length > 0
      ? list.map((value, i) => ({ value, field: `spec.podCIDRs[${i}]` }))
      : isAbsent(spec.podCIDR) || spec.podCIDR === ''
        ? []
        : [{ value: spec.podCIDR, field: 'spec.podCIDR' }];
  if (raw.length > 2) {
    reader.field('spec.podCIDRs', `at most 2 (one per IP family), got ${raw.length}`);
    return [];
  }
  const out: string[] = [];
  const families = new Set<IPFamily>();
  for (const { value, field } of raw) {
    const text = reader.string(value, field);
    if (text === undefined) continue;
    const cidr = canonicalCidr(text);
    if (cidr === undefined) {
      reader.field(field, `not a CIDR: ${describe(text)}`);
      continue;
    }
    const family: IPFamily = cidr.includes(':') ? 'IPv6' : 'IPv4';
    if (families.has(family)) {
      reader.field(field, `a second ${family} CIDR: at most one per IP family`);
      continue;
    }
    families.add(family);
    out.push(cidr);
  }
  return out;
}

function readTaints(reader: FieldReader, spec: Untrusted<V1NodeSpec>): NodeTaintSpec[] {
  const out: NodeTaintSpec[] = [];
  (reader.list(spec.taints, 'spec.taints') ?? []).forEach((item, i) => {
    const at = `spec.taints[${i}]`;
    const taint = reader.record<V1Taint>(item, at);
    if (taint === undefined) return;
    const key = reader.string(taint.key, `${at}.key`);
    if (key === '' || isAbsent(taint.key)) reader.field(`${at}.key`, 'required');
    const value = reader.string(taint.value, `${at}.value`) ?? '';
    if (isAbsent(taint.effect)) reader.field(`${at}.effect`, 'required');
    const effect = reader.oneOf(taint.effect, `${at}.effect`, TAINT_EFFECTS);
    if (key !== undefined && key !== '' && effect !== undefined) out.push({ key, value, effect });
  });
  return out;
}

function readAddresses(reader: FieldReader, status: Untrusted<V1NodeStatus>): string[] {
  const byType = new Map<string, string[]>([
    ['InternalIP', []],
    ['ExternalIP', []],
  ]);
  (reader.list(status.addresses, 'status.addresses') ?? []).forEach((item, i) => {
    const at = `status.addresses[${i}]`;
    const entry = reader.record<V1NodeAddress>(item, at);
    if (entry === undefined) return;
    const type = reader.string(entry.type, `${at}.type`);
    const found = type === undefined ? undefined : byType.get(type);
    // Hostname and InternalDNS/ExternalDNS entries hold names, not IPs: not ours to check.
    if (found === undefined) return;
    if (isAbsent(entry.address)) reader.field(`${at}.address`, 'required');
    const ip = reader.ip(entry.address, `${at}.address`);
    if (ip !== undefined && !found.includes(ip.ip)) found.push(ip.ip);
  });
  const internal = byType.get('InternalIP') ?? [];
  return internal.length > 0 ? internal : (byType.get('ExternalIP') ?? []);
}
