/**
 * Field checks shared by the object validators: Kubernetes name syntaxes, canonical IPs and CIDRs, and a
 * {@link FieldReader} that reads untrusted JSON field by field, recording every problem with its path.
 *
 * Private to src/model (the validators are the public surface).
 *
 * @module
 */
import { isIP } from 'node:net';
import type { ObjectProblem, ProblemCode } from './problem.ts';
import type { IPFamily, Protocol } from './types.ts';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[-a-z0-9]+$/;

/** A DNS-1123 label (namespaces, service and port names): `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63. */
export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

/** A DNS-1123 subdomain (EndpointSlice, Endpoints and node names): dotted labels, at most 253. */
export function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** A label value: at most 63 of `[A-Za-z0-9_.-]`, starting and ending alphanumeric (or empty). */
export function isLabelValue(s: string): boolean {
  return s.length <= 63 && LABEL_VALUE.test(s);
}

/**
 * An IANA_SVC_NAME (named target ports, upstream `IsValidPortName`): 1-15 of `[-a-z0-9]`, at least one
 * letter, no leading, trailing or doubled `-`.
 */
export function isIanaSvcName(s: string): boolean {
  return (
    s.length >= 1 &&
    s.length <= 15 &&
    IANA_SVC_NAME.test(s) &&
    /[a-z]/.test(s) &&
    !s.includes('--') &&
    !s.startsWith('-') &&
    !s.endsWith('-')
  );
}

/** An IP address in canonical text form with its family. */
export interface CanonicalIP {
  readonly ip: string;
  readonly family: IPFamily;
}

/**
 * Parses an IP address strictly and returns its canonical form (IPv6 lower-case and compressed as RFC 5952,
 * so that `FD00::0001` and `fd00::1` are the same VIP). Rejects zone indexes, IPv4 with leading zeros and
 * IPv4-mapped IPv6 addresses, as the API server's strict IP validation does.
 *
 * @param s the text
 * @returns the canonical address, or undefined when `s` is not a plain IP address
 * @example canonicalIP('FD00::0001') // { ip: 'fd00::1', family: 'IPv6' }
 */
export function canonicalIP(s: string): CanonicalIP | undefined {
  switch (isIP(s)) {
    case 4:
      return { ip: s, family: 'IPv4' };
    case 6: {
      if (s.includes('%')) return undefined;
      // The WHATWG URL parser serialises IPv6 hosts in the RFC 5952 canonical form.
      const ip = new URL(`http://[${s}]/`).hostname.slice(1, -1);
      if (/^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(ip)) return undefined;
      return { ip, family: 'IPv6' };
    }
    default:
      return undefined;
  }
}

/** The address as a number (IPv4) or bigint (IPv6); `ip` must be canonical. */
function ipValue(ip: CanonicalIP): bigint {
  if (ip.family === 'IPv4') {
    return ip.ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  }
  const [head = '', tail] = ip.ip.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups].reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n);
}

function ipFromValue(value: bigint, family: IPFamily): string {
  if (family === 'IPv4') {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  }
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) =>
    ((value >> shift) & 0xffffn).toString(16),
  );
  return canonicalIP(groups.join(':'))?.ip ?? groups.join(':');
}

/**
 * Parses a CIDR and returns it as `network/prefix` with host bits cleared and the address canonical (what
 * Go's `net.ParseCIDR` gives upstream). Surrounding spaces are ignored, as upstream trims them.
 *
 * @param s the text, e.g. `10.1.2.3/8`
 * @returns e.g. `10.0.0.0/8`, or undefined when `s` is not a CIDR
 * @example canonicalCidr(' 2001:DB8::1/32 ') // '2001:db8::/32'
 */
export function canonicalCidr(s: string): string | undefined {
  const [address = '', prefixText, extra] = s.trim().split('/');
  if (prefixText === undefined || extra !== undefined || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const ip = canonicalIP(address);
  if (ip === undefined) return undefined;
  const bits = ip.family === 'IPv4' ? 32n : 128n;
  const prefix = BigInt(Number(prefixText));
  if (prefix > bits) return undefined;
  const hostMask = (1n << (bits - prefix)) - 1n;
  return `${ipFromValue(ipValue(ip) & ~hostMask, ip.family)}/${prefix}`;
}

/**
 * Orders canonical IP addresses: IPv4 before IPv6, then numerically.
 *
 * @param a a canonical IP address
 * @param b another one
 * @returns negative, zero or positive as for `Array.prototype.sort`
 */
export function compareIPs(a: string, b: string): number {
  const ia = canonicalIP(a);
  const ib = canonicalIP(b);
  if (ia === undefined || ib === undefined) return a < b ? -1 : a > b ? 1 : 0;
  if (ia.family !== ib.family) return ia.family === 'IPv4' ? -1 : 1;
  const va = ipValue(ia);
  const vb = ipValue(ib);
  return va < vb ? -1 : va > vb ? 1 : 0;
}

/** Sorts canonical IP addresses with {@link compareIPs} and drops duplicates. */
export function sortedUniqueIPs(ips: readonly string[]): string[] {
  return [...new Set(ips)].sort(compareIPs);
}

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** Narrows a protocol name. */
export function isProtocol(s: string): s is Protocol {
  return (PROTOCOLS as readonly string[]).includes(s);
}

/**
 * The untrusted JSON form of a Kubernetes client type: the same field names, every value `unknown`, so that
 * a typo in a field name fails type-checking while every value is still checked before use.
 */
export type Untrusted<T> = { readonly [K in keyof T]?: unknown };

/** True for `undefined` and `null`: YAML `field:` and an informer's unset field both mean "absent". */
export function isAbsent(v: unknown): v is undefined | null {
  return v === undefined || v === null;
}

/** True for a plain JSON object (not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Describes a value for a problem reason: strings quoted and escaped (so that control characters from an
 * object can never break a log line), long ones shortened.
 */
export function describe(v: unknown): string {
  if (v === undefined || v === null) return 'nothing';
  if (typeof v === 'string') {
    // JSON.stringify leaves the C1 controls and the line separators U+2028/U+2029 as they are.
    return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v).replace(
      /[\u007f-\u009f\u2028\u2029]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  return 'a mapping';
}

/** Where an object is, for its problems. `namespace`/`name` are display forms (escaped when invalid). */
export interface ObjectLocation {
  readonly file: string | undefined;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/**
 * Reads fields of an untrusted object and records a problem, with its field path, for each bad one; every
 * read returns `undefined` when the field is absent or bad, so that validation goes on and reports all
 * problems of the object.
 */
export class FieldReader {
  readonly problems: ObjectProblem[] = [];
  readonly #where: ObjectLocation;

  constructor(where: ObjectLocation) {
    this.#where = where;
  }

  /** Records a problem. */
  report(code: ProblemCode, field: string, reason: string): void {
    this.problems.push({ code, ...this.#where, field, reason });
  }

  /** Records a bad field value (KPROXY_FIELD). */
  field(field: string, reason: string): void {
    this.report('KPROXY_FIELD', field, reason);
  }

  /** A mapping, typed as the untrusted form of `T`, or undefined (a non-mapping is a KPROXY_SHAPE problem). */
  record<T = Record<string, unknown>>(v: unknown, field: string): Untrusted<T> | undefined {
    if (isAbsent(v)) return undefined;
    if (isRecord(v)) return v as Untrusted<T>;
    this.report('KPROXY_SHAPE', field, `must be a mapping, got ${describe(v)}`);
    return undefined;
  }

  /** A list, or undefined (a non-list is a KPROXY_SHAPE problem). */
  list(v: unknown, field: string): readonly unknown[] | undefined {
    if (isAbsent(v)) return undefined;
    if (Array.isArray(v)) return v;
    this.report('KPROXY_SHAPE', field, `must be a list, got ${describe(v)}`);
    return undefined;
  }

  /** A string, or undefined. */
  string(v: unknown, field: string): string | undefined {
    if (isAbsent(v)) return undefined;
    if (typeof v === 'string') return v;
    this.field(field, `must be a string, got ${describe(v)}`);
    return undefined;
  }

  /** A boolean, or undefined. */
  boolean(v: unknown, field: string): boolean | undefined {
    if (isAbsent(v)) return undefined;
    if (typeof v === 'boolean') return v;
    this.field(field, `must be true or false, got ${describe(v)}`);
    return undefined;
  }

  /** An integer in `[min, max]`, or undefined. */
  integer(v: unknown, field: string, min: number, max: number): number | undefined {
    if (isAbsent(v)) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.field(field, `must be an integer, got ${describe(v)}`);
      return undefined;
    }
    if (v < min || v > max) {
      this.field(field, `must be ${min}-${max}, got ${v}`);
      return undefined;
    }
    return v;
  }

  /** A port number 1-65535; absent or 0 ("not set" in the API) gives 0. */
  optionalPort(v: unknown, field: string): number | undefined {
    if (v === 0) return 0;
    return isAbsent(v) ? 0 : this.integer(v, field, 1, 65535);
  }

  /** One of `allowed`, or undefined. */
  oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T | undefined {
    const s = this.string(v, field);
    if (s === undefined) return undefined;
    if ((allowed as readonly string[]).includes(s)) return s as T;
    this.field(field, `must be ${allowed.join(', ').replace(/, ([^,]*)$/, ' or $1')}, got ${describe(s)}`);
    return undefined;
  }

  /** A protocol; absent gives TCP (the API default). */
  protocol(v: unknown, field: string): Protocol | undefined {
    return isAbsent(v) ? 'TCP' : this.oneOf(v, field, PROTOCOLS);
  }

  /** A canonical IP address, or undefined. */
  ip(v: unknown, field: string): CanonicalIP | undefined {
    const s = this.string(v, field);
    if (s === undefined) return undefined;
    const ip = canonicalIP(s);
    if (ip === undefined) this.field(field, `not an IP address: ${describe(s)}`);
    return ip;
  }

  /** A string map (labels, annotations); entries without a value are dropped, other non-strings are problems. */
  stringMap(v: unknown, field: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.record(v, field) ?? {})) {
      if (typeof value === 'string') out[key] = value;
      else if (!isAbsent(value))
        this.field(`${field}[${JSON.stringify(key)}]`, `must be a string, got ${describe(value)}`);
    }
    return out;
  }
}

/** Labels with which an object asks not to be proxied by this proxy (upstream filters them in its informers). */
const NOT_OURS_LABELS = [
  'service.kubernetes.io/service-proxy-name',
  'service.kubernetes.io/headless',
] as const;

/** An object's validated metadata. */
export interface ObjectMeta {
  readonly reader: FieldReader;
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Why the object is not ours to proxy (a `NOT_OURS_LABELS` label), if it is not. */
  readonly skipReason: string | undefined;
}

/**
 * Reads `metadata` (name required, namespace defaulting to `default`, labels, annotations) and returns a
 * reader whose problems carry the object's kind, namespace and name.
 *
 * @param obj the untrusted object
 * @param kind its kind, for problems
 * @param file its file, for problems
 * @param nameIsValid the name syntax of this kind
 * @param nameSyntax that syntax named in a problem reason
 * @returns the metadata, or the reader with a KPROXY_SHAPE problem when `obj` is not a mapping
 */
export function readObjectMeta(
  obj: unknown,
  kind: string,
  file: string | undefined,
  nameIsValid: (name: string) => boolean,
  nameSyntax: string,
): ObjectMeta | FieldReader {
  if (!isRecord(obj)) {
    const reader = new FieldReader({ file, kind, namespace: '', name: '' });
    reader.report('KPROXY_SHAPE', '', `not a mapping: got ${describe(obj)}`);
    return reader;
  }
  const metadata = isRecord(obj['metadata']) ? obj['metadata'] : undefined;
  const rawName = metadata?.['name'];
  const rawNamespace = metadata?.['namespace'];
  const namespace = isAbsent(rawNamespace) || rawNamespace === '' ? 'default' : rawNamespace;
  const name = isAbsent(rawName) ? '' : rawName;
  const namespaceOk = typeof namespace === 'string' && isDns1123Label(namespace);
  const nameOk = typeof name === 'string' && nameIsValid(name);
  const reader = new FieldReader({
    file,
    kind,
    namespace: namespaceOk ? namespace : describe(namespace),
    name: nameOk || name === '' ? (name as string) : describe(name),
  });
  reader.record(obj['metadata'], 'metadata');
  if (name === '') reader.field('metadata.name', 'required');
  else if (!nameOk) reader.field('metadata.name', `not a ${nameSyntax}: ${describe(name)}`);
  if (!namespaceOk) reader.field('metadata.namespace', `not a DNS-1123 label: ${describe(namespace)}`);
  const labels = reader.stringMap(metadata?.['labels'], 'metadata.labels');
  const annotations = reader.stringMap(metadata?.['annotations'], 'metadata.annotations');
  const notOurs = NOT_OURS_LABELS.find((label) => label in labels);
  return {
    reader,
    namespace: namespaceOk ? namespace : '',
    name: nameOk ? (name as string) : '',
    labels,
    annotations,
    skipReason: notOurs === undefined ? undefined : `labelled ${notOurs}: not for this proxy (as upstream)`,
  };
}
