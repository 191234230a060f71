/**
 * Reads a `KubeProxyConfiguration` v1alpha1 document as kubeadm writes it (every field present, unset
 * ones as `null`, `""`, `0` or `0s`) with upstream's strict decoding: an unknown field, a duplicated key or
 * a value of the wrong type is an error naming its path. Fields kproxy does not implement are accepted, and
 * the ones the file sets (to anything but their zero value) are listed for warnings.
 *
 * @module
 */
import { parseAllDocuments } from 'yaml';
import { ConfigFileError, type ConfigProblem } from './config_error.ts';
import { parseGoDuration } from './go_duration.ts';
import {
  type FieldSpec,
  type FieldTable,
  KUBE_PROXY_CONFIGURATION_FIELDS,
  type LeafType,
  zeroObject,
} from './schema.ts';
import {
  KUBE_PROXY_CONFIG_API_VERSION,
  KUBE_PROXY_CONFIG_GROUP,
  KUBE_PROXY_CONFIG_KIND,
  type KubeProxyConfiguration,
} from './types.ts';

/** A parsed file: the configuration (not yet defaulted) and the ignored fields it sets. */
export interface ParsedConfiguration {
  readonly config: KubeProxyConfiguration;
  /** Paths of the fields kproxy does not implement that the file sets to a non-zero value. */
  readonly ignoredFields: readonly string[];
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
}

/**
 * Whether a decoded value is a zero value (`null`, `""`, `false`, `0`, `"0"`, an empty list or an object of
 * zero values): what an ignored field may hold without a warning.
 *
 * @param value a decoded value
 * @returns true when it asks for nothing
 * @example isZeroValue({ bridgeInterface: '' }) // true
 */
export function isZeroValue(value: unknown): boolean {
  if (value === null || value === '' || value === false || value === 0 || value === '0') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (isPlainObject(value)) return Object.values(value).every(isZeroValue);
  return false;
}

class Decoder {
  readonly problems: ConfigProblem[] = [];
  readonly ignoredFields: string[] = [];

  object(value: unknown, table: FieldTable, path: string): Record<string, unknown> {
    const out = zeroObject(table);
    if (value === null || value === undefined) return out;
    if (!isPlainObject(value)) {
      this.problems.push({ path, reason: `must be an object, got ${show(value)}` });
      return out;
    }
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(table, key)) this.problems.push({ path: join(path, key), reason: 'unknown field' });
    }
    for (const [name, spec] of Object.entries(table)) {
      const raw = value[name];
      if (raw === null || raw === undefined) continue;
      out[name] = this.field(raw, spec, join(path, name));
    }
    return out;
  }

  field(raw: unknown, spec: FieldSpec, path: string): unknown {
    if (typeof spec.type !== 'string') return this.object(raw, spec.type, path);
    const value = this.leaf(raw, spec.type, path);
    if (spec.support === 'ignored' && value !== undefined && !isZeroValue(value)) {
      this.ignoredFields.push(path);
    }
    return value;
  }

  leaf(raw: unknown, type: LeafType, path: string): unknown {
    const wrong = (what: string) => {
      this.problems.push({ path, reason: `must be ${what}, got ${show(raw)}` });
      return undefined;
    };
    switch (type) {
      case 'string':
        return typeof raw === 'string' ? raw : wrong('a string');
      case 'bool':
      case 'boolPtr':
        return typeof raw === 'boolean' ? raw : wrong('true or false');
      case 'int32':
      case 'int32Ptr':
        return typeof raw === 'number' && Number.isInteger(raw) && raw >= INT32_MIN && raw <= INT32_MAX
          ? raw
          : wrong('a 32-bit integer');
      case 'float':
        return typeof raw === 'number' ? raw : wrong('a number');
      case 'duration':
      case 'durationPtr': {
        const ms = typeof raw === 'string' ? parseGoDuration(raw) : undefined;
        return ms ?? wrong('a duration such as "30s" or "1m0s"');
      }
      case 'timeOrDuration': {
        if (typeof raw === 'number' && Number.isInteger(raw)) return raw / 1e6;
        const ms = typeof raw === 'string' ? parseGoDuration(raw) : undefined;
        return ms ?? wrong('a duration such as "5s", or an integer of nanoseconds');
      }
      case 'quantity':
        return typeof raw === 'string' || typeof raw === 'number' ? String(raw) : wrong('a quantity');
      case 'stringList': {
        if (!Array.isArray(raw)) return wrong('a list of strings');
        const bad = raw.findIndex((item) => typeof item !== 'string');
        if (bad >= 0) {
          this.problems.push({ path: `${path}[${bad}]`, reason: `must be a string, got ${show(raw[bad])}` });
          return undefined;
        }
        return raw;
      }
      case 'boolMap': {
        if (!isPlainObject(raw)) return wrong('a map of names to true or false');
        for (const [key, v] of Object.entries(raw)) {
          if (typeof v !== 'boolean') {
            this.problems.push({ path: join(path, key), reason: `must be true or false, got ${show(v)}` });
            return undefined;
          }
        }
        return raw;
      }
      case 'list':
        return Array.isArray(raw) ? raw : wrong('a list');
      default: {
        const never: never = type;
        throw new Error(`Unknown field type: ${String(never)}`);
      }
    }
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The kind (then apiVersion) check, first: a wrong one makes every field error noise. */
function typeMetaProblems(doc: Record<string, unknown>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { kind, apiVersion } = doc;
  if (kind !== KUBE_PROXY_CONFIG_KIND) {
    problems.push({
      path: 'kind',
      reason:
        kind === undefined || kind === null
          ? `missing: must be "${KUBE_PROXY_CONFIG_KIND}"`
          : `must be "${KUBE_PROXY_CONFIG_KIND}", got ${show(kind)}`,
    });
  }
  // One error: a wrong kind usually comes with a wrong apiVersion (another object's file).
  if (problems.length === 0 && apiVersion !== KUBE_PROXY_CONFIG_API_VERSION) {
    const sameGroup = typeof apiVersion === 'string' && apiVersion.startsWith(`${KUBE_PROXY_CONFIG_GROUP}/`);
    problems.push({
      path: 'apiVersion',
      reason:
        apiVersion === undefined || apiVersion === null
          ? `missing: must be "${KUBE_PROXY_CONFIG_API_VERSION}"`
          : `must be "${KUBE_PROXY_CONFIG_API_VERSION}", got ${show(apiVersion)}${sameGroup ? ' (kproxy reads v1alpha1 only)' : ''}`,
    });
  }
  return problems;
}

/**
 * Parses the text of a configuration file (YAML or JSON).
 *
 * @param text the file's content
 * @param file the file's name, for messages
 * @returns the configuration with Go's zero values where the file says nothing, and the ignored fields set
 * @throws {ConfigFileError} naming the file and every field at fault
 * @example const { config, ignoredFields } = parseKubeProxyConfiguration(text, '/var/lib/kube-proxy/config.conf')
 */
export function parseKubeProxyConfiguration(text: string, file: string): ParsedConfiguration {
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      const message = doc.errors[0]!.message.split('\n', 1)[0] ?? '';
      throw new ConfigFileError(file, [{ path: '', reason: `not valid YAML: ${message}` }]);
    }
  }
  const values = list.map((d) => d.toJS() as unknown).filter((v) => v !== null && v !== undefined);
  if (values.length !== 1) {
    throw new ConfigFileError(file, [
      { path: '', reason: `expected one ${KUBE_PROXY_CONFIG_KIND} document, found ${values.length}` },
    ]);
  }
  const doc = values[0];
  if (!isPlainObject(doc)) {
    throw new ConfigFileError(file, [{ path: '', reason: `not a ${KUBE_PROXY_CONFIG_KIND} object` }]);
  }
  const typeMeta = typeMetaProblems(doc);
  if (typeMeta.length > 0) throw new ConfigFileError(file, typeMeta);
  const decoder = new Decoder();
  const config = decoder.object(
    doc,
    KUBE_PROXY_CONFIGURATION_FIELDS,
    '',
  ) as unknown as KubeProxyConfiguration;
  if (decoder.problems.length > 0) throw new ConfigFileError(file, decoder.problems);
  return { config, ignoredFields: decoder.ignoredFields };
}
