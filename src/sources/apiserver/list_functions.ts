/**
 * The typed list calls of the official client, adapted to the {@link ListFn} shape the reflector
 * uses: selectors and pagination passed through, the request abortable, and the items turned back
 * into the JSON shape a watch delivers (with `kind`/`apiVersion`, which list items lack on the wire).
 *
 * @module
 */
import {
  type ConfigurationOptions,
  type CoreV1Api,
  type DiscoveryV1Api,
  Observable,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import type { ListFn, ListPage, RawObject } from './reflector.ts';

/** Label and field selectors of a list-watch. */
export interface Selectors {
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
}

/**
 * Per-request client options that make the request abortable (the generated API has no signal
 * parameter, but its request context has one, reachable through a middleware).
 *
 * @param signal aborts the HTTP request
 * @returns options for the second argument of a typed API call
 * @example await core.listNode({}, abortable(AbortSignal.timeout(5000)))
 */
export function abortable(signal: AbortSignal): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context) => new Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

/** The common parameters of a list call, without undefined-valued keys. */
interface ListParams {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  _continue?: string;
}

function listParams(
  selectors: Selectors,
  limit: number | undefined,
  continueToken: string | undefined,
): ListParams {
  const params: ListParams = {};
  if (selectors.labelSelector !== undefined) params.labelSelector = selectors.labelSelector;
  if (selectors.fieldSelector !== undefined) params.fieldSelector = selectors.fieldSelector;
  if (limit !== undefined) params.limit = limit;
  if (continueToken !== undefined) params._continue = continueToken;
  return params;
}

interface TypedList {
  readonly metadata?: {
    readonly resourceVersion?: string | undefined;
    readonly _continue?: string | undefined;
  };
  readonly items: readonly unknown[];
}

/**
 * Turns a typed list into a page of plain JSON objects stamped with their kind. A JSON round trip is
 * the cheapest faithful way back to the wire shape (dates as strings, no undefined-valued fields), so
 * that list items and watch objects look the same to the validators.
 */
function toPage(list: TypedList, apiVersion: string, kind: string): ListPage {
  const items = list.items.map(
    (item) =>
      ({ ...(JSON.parse(JSON.stringify(item)) as Record<string, unknown>), apiVersion, kind }) as RawObject,
  );
  return {
    items,
    resourceVersion: list.metadata?.resourceVersion ?? '',
    continueToken: list.metadata?._continue,
  };
}

/**
 * Lists Services in all namespaces (`GET /api/v1/services`).
 *
 * @param core the CoreV1 API client
 * @param selectors label/field selectors
 * @returns a list function for the reflector
 */
export function serviceLister(core: CoreV1Api, selectors: Selectors): ListFn {
  return async ({ limit, continueToken, signal }) =>
    toPage(
      await core.listServiceForAllNamespaces(listParams(selectors, limit, continueToken), abortable(signal)),
      'v1',
      'Service',
    );
}

/**
 * Lists EndpointSlices in all namespaces (`GET /apis/discovery.k8s.io/v1/endpointslices`).
 *
 * @param discovery the DiscoveryV1 API client
 * @param selectors label/field selectors
 * @returns a list function for the reflector
 */
export function endpointSliceLister(discovery: DiscoveryV1Api, selectors: Selectors): ListFn {
  return async ({ limit, continueToken, signal }) =>
    toPage(
      await discovery.listEndpointSliceForAllNamespaces(
        listParams(selectors, limit, continueToken),
        abortable(signal),
      ),
      'discovery.k8s.io/v1',
      'EndpointSlice',
    );
}

/**
 * Lists legacy core/v1 Endpoints in all namespaces (`GET /api/v1/endpoints`).
 *
 * @param core the CoreV1 API client
 * @param selectors label/field selectors
 * @returns a list function for the reflector
 */
export function endpointsLister(core: CoreV1Api, selectors: Selectors): ListFn {
  return async ({ limit, continueToken, signal }) =>
    toPage(
      await core.listEndpointsForAllNamespaces(
        listParams(selectors, limit, continueToken),
        abortable(signal),
      ),
      'v1',
      'Endpoints',
    );
}

/**
 * Lists Nodes (`GET /api/v1/nodes`), e.g. only this one with `fieldSelector: metadata.name=NAME`.
 *
 * @param core the CoreV1 API client
 * @param selectors label/field selectors
 * @returns a list function for the reflector
 */
export function nodeLister(core: CoreV1Api, selectors: Selectors): ListFn {
  return async ({ limit, continueToken, signal }) =>
    toPage(await core.listNode(listParams(selectors, limit, continueToken), abortable(signal)), 'v1', 'Node');
}
