// The strict nft fake against the real nft: every script of testing/nft_steps.ts runs through both, in a network namespace
// kpt-nft-<pid> that this test creates and deletes (nft never runs in the root namespace), and they must
// agree on accept or refuse, on the line a refusal names, and on the state the seam lists afterwards
// (every table, with chains, rule counts, sets, maps and elements). The scripts: every golden file of the
// nftables mode in turn, partial updates as the applier writes them, and scripts real nft refuses; each
// step's expectation (accepted, or refused at a line) is checked against the real nft too. Needs root,
// ip and nft.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kernelTestSkip } from '../lab/kernel_tools.ts';
import { createExec, type Exec, type ExecResult } from './exec.ts';
import { checkNftHost, createNft, type Nft, parseNftErrors } from './nft.ts';
import { FakeNft } from './testing/nft_fake.ts';
import { goldenSteps, type NftStep, PARTIAL_STEPS, REFUSED_STEPS } from './testing/nft_steps.ts';

const skip = kernelTestSkip(import.meta.url, { tools: ['ip', 'nft'] });

const NETNS = `kpt-nft-${process.pid}`;

/** What both seams list: every table, each in full. */
async function listed(nft: Nft): Promise<unknown> {
  const tables = (await nft.listTables()).map((t) => `${t.family} ${t.name}`).sort();
  const states = [];
  for (const t of tables) {
    const [family, name] = t.split(' ') as ['ip' | 'ip6', string];
    states.push(await nft.listTable(family, name));
  }
  return { tables, states };
}

describe('the nft fake agrees with the real nft', { skip }, () => {
  const host = createExec();
  const fake = new FakeNft();
  let real: Exec;

  before(async () => {
    const r = await host('ip', ['netns', 'add', NETNS]);
    assert.equal(r.code, 0, r.stderr);
    real = createExec({ netns: NETNS });
  });
  after(async () => {
    await host('ip', ['netns', 'del', NETNS]);
  });

  async function agree(steps: readonly NftStep[]): Promise<void> {
    for (const step of steps) {
      const args = step.check === true ? ['-c', '-f', '-'] : ['-f', '-'];
      const kernel: ExecResult = await real('nft', args, { input: step.script });
      const faked = fake.answer(args, step.script);
      const what = `${step.name}\n--- real nft:\n${kernel.stderr}--- fake:\n${faked.stderr}`;
      // The real nft first: a step's expectation is checked against it, then the fake against both.
      assert.equal(parseNftErrors(kernel.stderr)[0]?.line, step.refusedAt, `real nft, ${what}`);
      assert.equal(faked.code, kernel.code, `exit code, ${what}`);
      assert.equal(parseNftErrors(faked.stderr)[0]?.line, step.refusedAt, `line, ${what}`);
      assert.deepEqual(
        await listed(createNft(fake.exec)),
        await listed(createNft(real)),
        `state, ${step.name}`,
      );
    }
  }

  it('find this host able to run the nftables mode: the probe script of checkNftHost passes nft -c', async () => {
    for (const family of ['ip', 'ip6'] as const) {
      const found = await checkNftHost(real, { family });
      assert.match(found.nft, /^\d+\.\d+\.\d+$/);
    }
    assert.deepEqual(
      await listed(createNft(real)),
      { tables: [], states: [] },
      'the probe committed nothing',
    );
  });

  it('accept every golden script in turn, listing the same table after each', async () => {
    await agree(goldenSteps());
  });

  it('accept the partial updates, listing the same tables after each', async () => {
    await agree(PARTIAL_STEPS);
  });

  it('refuse the same scripts at the same line, leaving the tables as they were', async () => {
    await agree(REFUSED_STEPS);
  });

  it('list one map, the chains, and delete tables alike', async () => {
    const seams = [createNft(fake.exec), createNft(real)];
    const [fakeMap, realMap] = await Promise.all(
      seams.map((n) => n.listContainer('ip', 'kube-proxy', 'map', 'service-ips')),
    );
    assert.deepEqual(fakeMap, realMap);
    const [fakeMissing, realMissing] = await Promise.all(
      seams.map((n) => n.listContainer('ip', 'kube-proxy', 'set', 'service-ips')),
    );
    assert.equal(fakeMissing, undefined);
    assert.equal(realMissing, undefined);
    const [fakeChains, realChains] = await Promise.all(seams.map((n) => n.listChains('ip', 'kube-proxy')));
    assert.deepEqual(fakeChains, realChains);
    for (const nft of seams) {
      assert.equal(await nft.deleteTable('ip', 'kpt-other'), true);
      assert.equal(await nft.deleteTable('ip', 'kpt-other'), false);
      assert.equal(await nft.listTable('ip', 'kpt-other'), undefined);
    }
    assert.deepEqual(await listed(seams[0]!), await listed(seams[1]!));
  });
});
