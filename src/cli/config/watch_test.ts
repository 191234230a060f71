import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually } from '../../lab/eventually.ts';
import { type ConfigFileChange, watchConfigFile } from './watch.ts';

const VALID = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n';

/** A watch over a file whose content the test sets; returns the changes reported so far. */
function watched(initial: string) {
  let content: string | Error = initial;
  const changes: ConfigFileChange[] = [];
  const controller = new AbortController();
  watchConfigFile('/etc/kproxy/config.conf', initial, (c) => changes.push(c), {
    intervalMs: 5,
    signal: controller.signal,
    read: async () => {
      if (content instanceof Error) throw content;
      return content;
    },
  });
  return {
    changes,
    set: (next: string | Error) => {
      content = next;
    },
    stop: () => controller.abort(),
  };
}

describe('watchConfigFile', () => {
  it('reports nothing while the content stays', async () => {
    const w = watched(VALID);
    await new Promise((r) => setTimeout(r, 40));
    w.stop();
    assert.deepEqual(w.changes, []);
  });

  it('reports a change that does not load once, with the reason, then a valid change, and stops watching', async () => {
    const w = watched(VALID);
    try {
      w.set(VALID.replace('iptables', 'bogus'));
      await eventually('the invalid change', async () => (w.changes.length === 1 ? true : undefined));
      assert.equal(w.changes[0]?.kind, 'invalid');
      assert.match((w.changes[0] as { reason: string }).reason, /mode/);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(w.changes.length, 1, 'the same bad content is reported once');
      w.set(`${VALID}clusterCIDR: 198.18.0.0/16\n`);
      await eventually('the valid change', async () => (w.changes.length === 2 ? true : undefined));
      assert.deepEqual(w.changes[1], { kind: 'changed' });
      w.set(VALID.replace('iptables', 'nftables'));
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(w.changes.length, 2, 'nothing after the change that stops the daemon');
    } finally {
      w.stop();
    }
  });

  it('reports an unreadable file once, and a return to the original content as nothing', async () => {
    const w = watched(VALID);
    try {
      w.set(new Error('ENOENT: no such file'));
      await eventually('the unreadable file', async () => (w.changes.length === 1 ? true : undefined));
      assert.deepEqual(w.changes[0], { kind: 'unreadable', reason: 'ENOENT: no such file' });
      w.set(VALID);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(w.changes.length, 1);
    } finally {
      w.stop();
    }
  });
});
