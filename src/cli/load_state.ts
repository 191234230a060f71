/**
 * One-shot loading for `validate`, `rules` and `trace`: runs a source until its initial list is complete
 * and folds it into a single snapshot, collecting every problem on the way. This node's Node object, when
 * the source has it, gives its zone to the tracker as in `run` (topology hints), so that `rules` and
 * `trace` show what `run` would program on that node.
 *
 * @module
 */
import type { ObjectProblem } from '../model/problem.ts';
import type { ProxyState } from '../model/types.ts';
import type { NodeSpec } from '../model/validate_node.ts';
import type { ProxySource } from '../sources/source.ts';
import { ProxyStateTracker } from '../tracker/proxy_state_tracker.ts';

/** What a one-shot load produced. */
export interface LoadedState {
  readonly state: ProxyState;
  readonly problems: readonly ObjectProblem[];
  /** Number of proxied services (headless and ExternalName services are not counted). */
  readonly services: number;
  /** This node's Node object, when the source delivered one. */
  readonly node?: NodeSpec | undefined;
}

/**
 * Loads a source once.
 *
 * @param source a source that emits `synced` after its initial list
 * @param nodeName this node, for endpoint locality
 * @param timeoutMs how long to wait for `synced`
 * @returns the state and the problems
 * @example const { state, problems } = await loadOnce(createManifestSource('examples/demo'), 'node-a')
 */
export async function loadOnce(
  source: ProxySource,
  nodeName: string,
  timeoutMs = 30_000,
): Promise<LoadedState> {
  const tracker = new ProxyStateTracker({ nodeName });
  const problems: ObjectProblem[] = [];
  const services = new Set<string>();
  let node: NodeSpec | undefined;
  let resolveSynced: () => void = () => {};
  const synced = new Promise<void>((resolve) => {
    resolveSynced = resolve;
  });
  await source.start(
    (event) => {
      if (event.type === 'problem') problems.push(event.problem);
      if (event.type === 'synced') resolveSynced();
      if (event.type === 'add' || event.type === 'update') {
        if (event.object.kind === 'Service')
          services.add(`${event.object.spec.namespace}/${event.object.spec.name}`);
      }
      tracker.handle(event);
    },
    {
      onNode: (event) => {
        node = event.type === 'node' ? event.node : undefined;
        tracker.setNodeTopology({ zone: node?.zone });
      },
    },
  );
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    await Promise.race([
      synced,
      new Promise<never>((_, reject) =>
        timeout.addEventListener('abort', () =>
          reject(new Error(`Source did not finish its initial load: waited ${timeoutMs} ms`)),
        ),
      ),
    ]);
  } finally {
    await source.stop();
  }
  return { state: tracker.snapshot().state, problems, services: services.size, node };
}
