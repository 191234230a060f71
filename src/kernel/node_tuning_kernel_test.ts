// Node tuning against the real kernel, in a network namespace kpt-tune-<pid> that this test creates and
// deletes: a child process there applies conntrack timeouts, be_liberal and its own OOM score through the
// real seam, and what it reads back is what was asked, while the root namespace's values stay as they were.
// nf_conntrack_max and hashsize are global: they are tested with the fake only (node_tuning_test.ts), and
// the child refuses settings that would write them. Needs root, ip and the nf_conntrack module.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { kernelTestSkip } from '../lab/kernel_tools.ts';
import { nodeModuleArgv } from '../lab/node_child.ts';
import { createExec } from './exec.ts';
import {
  CONNTRACK_TCP_BE_LIBERAL,
  CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT,
  CONNTRACK_TCP_TIMEOUT_ESTABLISHED,
  CONNTRACK_UDP_TIMEOUT,
  CONNTRACK_UDP_TIMEOUT_STREAM,
  createNodeSysctls,
  OOM_SCORE_ADJ,
} from './node_sysctls.ts';
import type { NodeTuningSettings } from './node_tuning_plan.ts';
import { type NodeTuningChildResult, READ_BACK } from './testing/node_tuning_child.ts';

const loaded = existsSync(CONNTRACK_TCP_TIMEOUT_ESTABLISHED);
const skip =
  kernelTestSkip(import.meta.url, { tools: ['ip'] }) || (loaded ? false : 'needs nf_conntrack loaded');

const NETNS = `kpt-tune-${process.pid}`;
const CHILD = new URL('./testing/node_tuning_child.ts', import.meta.url).href;

describe('node tuning in a network namespace', { skip }, () => {
  const host = createExec();
  const root = new Map<string, number>();

  before(async () => {
    const seam = createNodeSysctls();
    for (const file of READ_BACK) if (file !== OOM_SCORE_ADJ) root.set(file, await seam.read(file));
    const r = await host('ip', ['netns', 'add', NETNS]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await host('ip', ['netns', 'del', NETNS]);
  });

  async function runChild(settings: NodeTuningSettings): Promise<NodeTuningChildResult> {
    const [node = process.execPath, ...args] = nodeModuleArgv(CHILD, [JSON.stringify(settings)]);
    const r = await createExec({ netns: NETNS })(node, args, { signal: AbortSignal.timeout(30_000) });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as NodeTuningChildResult;
  }

  it('writes the per-namespace conntrack sysctls and its own OOM score, and reads them back', async () => {
    // Values no host uses by default, so that a write that went to the root namespace would show.
    const settings: NodeTuningSettings = {
      conntrack: {
        maxPerCore: 0,
        min: 131072,
        tcpEstablishedTimeout: 7_777_000,
        tcpCloseWaitTimeout: 1_777_000,
        tcpBeLiberal: true,
        udpTimeout: 37_000,
        udpStreamTimeout: 137_000,
      },
      oomScoreAdj: 777,
    };
    const first = await runChild(settings);
    assert.deepEqual(first.values, {
      [CONNTRACK_TCP_TIMEOUT_ESTABLISHED]: 7777,
      [CONNTRACK_TCP_TIMEOUT_CLOSE_WAIT]: 1777,
      [CONNTRACK_TCP_BE_LIBERAL]: 1,
      [CONNTRACK_UDP_TIMEOUT]: 37,
      [CONNTRACK_UDP_TIMEOUT_STREAM]: 137,
      [OOM_SCORE_ADJ]: 777,
    });
    assert.equal(first.written.length, 6, first.written.join(', '));

    // A second start finds the namespace tuned: only the new process's own OOM score is written.
    const second = await runChild(settings);
    assert.deepEqual(second.written, [`${OOM_SCORE_ADJ}=777`]);

    const seam = createNodeSysctls();
    for (const [file, value] of root) assert.equal(await seam.read(file as never), value, `root ${file}`);
  });
});
