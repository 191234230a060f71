/**
 * Combining traced paths into one result: the most likely verdict, backends weighted by their DNATed
 * paths, masquerading only on paths that leave, steps once each in the order walked.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { combineTracedPaths, type TracedPath } from './combine_paths.ts';

function path(overrides: Partial<TracedPath>): TracedPath {
  return { probability: 1, verdict: 'NONE', backend: undefined, masquerade: false, steps: [], ...overrides };
}

describe('combineTracedPaths', () => {
  it('reports no verdict, no backends and no steps when nothing was walked', () => {
    assert.deepEqual(combineTracedPaths([]), { verdict: 'NONE', masquerade: false, backends: [], path: [] });
  });

  it('weights each backend by its share of the DNATed paths, adding up paths to the same backend', () => {
    const result = combineTracedPaths([
      path({ probability: 0.5, verdict: 'DNAT', backend: '10.180.0.1:80' }),
      path({ probability: 0.25, verdict: 'DNAT', backend: '10.180.0.2:80' }),
      path({ probability: 0.25, verdict: 'DNAT', backend: '10.180.0.1:80' }),
    ]);
    assert.equal(result.verdict, 'DNAT');
    assert.deepEqual(result.backends, [
      { address: '10.180.0.1:80', probability: 0.75 },
      { address: '10.180.0.2:80', probability: 0.25 },
    ]);
  });

  it('rounds probabilities to ten decimals', () => {
    const third = 1 / 3;
    const result = combineTracedPaths(
      ['10.180.0.1:80', '10.180.0.2:80', '10.180.0.3:80'].map((backend) =>
        path({ probability: third, verdict: 'DNAT', backend }),
      ),
    );
    assert.deepEqual(
      result.backends.map((b) => b.probability),
      [0.3333333333, 0.3333333333, 0.3333333333],
    );
  });

  it('counts a backend only on a DNAT verdict (a DNATed path later dropped reaches no backend)', () => {
    const result = combineTracedPaths([
      path({ probability: 0.75, verdict: 'DROP', backend: '10.180.0.1:80' }),
      path({ probability: 0.25, verdict: 'DNAT', backend: '10.180.0.2:80' }),
    ]);
    assert.deepEqual(result.backends, [{ address: '10.180.0.2:80', probability: 1 }]);
  });

  it('takes the most likely verdict, the first of equals, and says when verdicts differ by path', () => {
    const likely = combineTracedPaths([
      path({ probability: 0.25, verdict: 'DNAT', backend: '10.180.0.1:80', steps: ['a'] }),
      path({ probability: 0.75, verdict: 'REJECT', steps: ['b'] }),
    ]);
    assert.equal(likely.verdict, 'REJECT');
    assert.deepEqual(likely.path, ['a', 'b', 'Verdicts differ by path: DNAT 0.25, REJECT 0.75']);

    const tied = combineTracedPaths([
      path({ probability: 0.5, verdict: 'DROP' }),
      path({ probability: 0.5, verdict: 'ACCEPT' }),
    ]);
    assert.equal(tied.verdict, 'DROP');
  });

  it('ignores a verdict whose paths add up to rounding noise when saying verdicts differ', () => {
    const result = combineTracedPaths([
      path({ probability: 1, verdict: 'DNAT', backend: '10.180.0.1:80', steps: ['a'] }),
      path({ probability: 1e-13, verdict: 'DROP', steps: ['a'] }),
    ]);
    assert.deepEqual(result.path, ['a']);
  });

  it('masquerades when a path that leaves is marked, not when only dropped or rejected paths are', () => {
    const dropped = combineTracedPaths([
      path({ probability: 0.5, verdict: 'DROP', masquerade: true }),
      path({ probability: 0.5, verdict: 'REJECT', masquerade: true }),
    ]);
    assert.equal(dropped.masquerade, false);

    const leaving = combineTracedPaths([
      path({ probability: 0.5, verdict: 'DROP' }),
      path({ probability: 0.5, verdict: 'DNAT', backend: '10.180.0.1:80', masquerade: true }),
    ]);
    assert.equal(leaving.masquerade, true);
  });

  it('lists every step once, in the order first walked', () => {
    const result = combineTracedPaths([
      path({ probability: 0.5, verdict: 'DNAT', backend: '10.180.0.1:80', steps: ['svc', 'sep-1', 'post'] }),
      path({ probability: 0.5, verdict: 'DNAT', backend: '10.180.0.2:80', steps: ['svc', 'sep-2', 'post'] }),
    ]);
    assert.deepEqual(result.path, ['svc', 'sep-1', 'post', 'sep-2']);
  });
});
