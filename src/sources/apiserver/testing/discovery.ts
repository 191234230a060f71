/**
 * What the fake API server says about itself, as kube-apiserver does, for clients that discover before
 * they act (kubectl): `/version`, the legacy and group discovery documents (`/api`, `/api/v1`, `/apis`,
 * `/apis/{group}/{version}`) and an OpenAPI v2 document.
 *
 * The OpenAPI document has no definitions: kubectl then finds no schema for a kind, so it validates
 * nothing client-side and computes `apply` patches from its compiled-in types (its documented fallback).
 * kubectl asks for it as protobuf (gnostic's `openapi_v2.Document`), which is answered with the few
 * bytes of a document that only has `swagger` and `info`; the JSON form is served to other clients.
 * `/openapi/v3` is not served (404, as a server before 1.27 without the feature): kubectl falls back to v2.
 *
 * @module
 */

/** The resources the fake knows. */
export type FakeResource = 'services' | 'endpointslices' | 'endpoints' | 'nodes' | 'events';

/** Where a resource lives and what it is called. */
export interface ResourceInfo {
  readonly prefix: string;
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespaced: boolean;
  readonly singularName: string;
  readonly shortNames: readonly string[];
}

/** The resources the fake serves, by plural name. */
export const RESOURCES: Readonly<Record<FakeResource, ResourceInfo>> = {
  services: {
    prefix: '/api/v1',
    kind: 'Service',
    apiVersion: 'v1',
    namespaced: true,
    singularName: 'service',
    shortNames: ['svc'],
  },
  endpoints: {
    prefix: '/api/v1',
    kind: 'Endpoints',
    apiVersion: 'v1',
    namespaced: true,
    singularName: 'endpoints',
    shortNames: ['ep'],
  },
  nodes: {
    prefix: '/api/v1',
    kind: 'Node',
    apiVersion: 'v1',
    namespaced: false,
    singularName: 'node',
    shortNames: ['no'],
  },
  endpointslices: {
    prefix: '/apis/discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    namespaced: true,
    singularName: 'endpointslice',
    shortNames: [],
  },
  events: {
    prefix: '/apis/events.k8s.io/v1',
    kind: 'Event',
    apiVersion: 'events.k8s.io/v1',
    namespaced: true,
    singularName: 'event',
    shortNames: ['ev'],
  },
};

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** The version the fake claims: recent enough that clients use EndpointSlices and events.k8s.io/v1. */
const VERSION = { major: '1', minor: '30', gitVersion: 'v1.30.0-kproxy-fake' };

/** Which API groups are served right now. */
export interface DiscoveryOptions {
  /** Whether discovery.k8s.io/v1 (EndpointSlices) is served. */
  readonly endpointSlices: boolean;
}

/** A discovery answer: the body and its Content-Type. */
export interface DiscoveryDocument {
  readonly contentType: string;
  readonly body: string | Uint8Array;
}

function json(body: unknown): DiscoveryDocument {
  return { contentType: 'application/json', body: JSON.stringify(body) };
}

function served(options: DiscoveryOptions): FakeResource[] {
  return (Object.keys(RESOURCES) as FakeResource[]).filter(
    (r) => options.endpointSlices || r !== 'endpointslices',
  );
}

function resourceList(groupVersion: string, options: DiscoveryOptions): DiscoveryDocument | undefined {
  const resources = served(options)
    .filter((r) => RESOURCES[r].apiVersion === groupVersion)
    .map((r) => {
      const info = RESOURCES[r];
      return {
        name: r,
        singularName: info.singularName,
        namespaced: info.namespaced,
        kind: info.kind,
        verbs: VERBS,
        ...(info.shortNames.length > 0 ? { shortNames: info.shortNames } : {}),
      };
    });
  if (resources.length === 0) return undefined;
  return json({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources });
}

/** Length-delimited protobuf field (wire type 2). */
function field(tag: number, bytes: Uint8Array): Uint8Array {
  if (bytes.length > 127) throw new Error(`Protobuf field ${tag}: too long for a one-byte length`);
  return Uint8Array.from([(tag << 3) | 2, bytes.length, ...bytes]);
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

/** gnostic `openapi_v2.Document{swagger: "2.0", info: {title, version}}` as protobuf. */
function openApiV2Protobuf(): Uint8Array {
  const info = Uint8Array.from([...field(1, text('Kubernetes')), ...field(2, text(VERSION.gitVersion))]);
  return Uint8Array.from([...field(1, text('2.0')), ...field(2, info)]);
}

/**
 * Answers a discovery request (`GET` of `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{g}/{v}`,
 * `/openapi/v2`).
 *
 * @param path the request path
 * @param accept the request's Accept header (chooses protobuf or JSON for `/openapi/v2`)
 * @param options which groups are served
 * @returns the document, or undefined when the path is not a discovery path (or the group is not served)
 * @example discoveryDocument('/api', 'application/json', { endpointSlices: true })?.contentType // 'application/json'
 */
export function discoveryDocument(
  path: string,
  accept: string,
  options: DiscoveryOptions,
): DiscoveryDocument | undefined {
  const groupVersions = [...new Set(served(options).map((r) => RESOURCES[r].apiVersion))].filter((gv) =>
    gv.includes('/'),
  );
  switch (path) {
    case '/version':
      return json({ ...VERSION, platform: 'linux/amd64' });
    case '/api':
      return json({
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }],
      });
    case '/api/v1':
      return resourceList('v1', options);
    case '/apis':
      return json({
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groupVersions.map((groupVersion) => {
          const [name = '', version = ''] = groupVersion.split('/');
          const preferred = { groupVersion, version };
          return { name, versions: [preferred], preferredVersion: preferred };
        }),
      });
    case '/openapi/v2':
      if (accept.includes('protobuf')) {
        return {
          contentType: 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf',
          body: openApiV2Protobuf(),
        };
      }
      return json({
        swagger: '2.0',
        info: { title: 'Kubernetes', version: VERSION.gitVersion },
        paths: {},
        definitions: {},
      });
    default:
      if (path.startsWith('/apis/') && groupVersions.includes(path.slice('/apis/'.length))) {
        return resourceList(path.slice('/apis/'.length), options);
      }
      return undefined;
  }
}
