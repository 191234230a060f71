import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Exec, KernelError } from '../../kernel/exec.ts';
import { FakeIptables } from '../../kernel/testing/iptables_fake.ts';
import { createLogger } from '../../log.ts';
import { cleanupUserspace, removeLeftoverPortals, removePortalRules } from './cleanup.ts';
import { planUserspace } from './plan.ts';
import { jumpArgs, PORTAL_JUMPS, PORTAL_TABLES } from './portal_chains.ts';
import { renderPortalTable } from './render.ts';
import { planOptions, proxyState, servicePort } from './testing/fixtures.ts';

/** A fake backend holding the mode's chains for one service, and every jump `copies` times. */
async function installed(copies: number): Promise<FakeIptables> {
  const fake = new FakeIptables('nft');
  const plan = planUserspace(
    proxyState([servicePort({ type: 'NodePort', nodePort: 30080, endpoints: ['10.1.0.1:80'] })]),
    planOptions({ proxyPortRange: { from: 40000, to: 40010 } }),
  );
  for (const table of PORTAL_TABLES)
    await fake.restore(table, renderPortalTable(plan, table), { noflush: true });
  for (let i = 0; i < copies; i++) {
    for (const jump of PORTAL_JUMPS) {
      const added = fake.answer('iptables', ['-t', jump.table, '-A', jump.from, ...jumpArgs(jump)], '');
      assert.equal(added.code, 0, added.stderr);
    }
  }
  return fake;
}

function ours(fake: FakeIptables): string[] {
  const chains = PORTAL_TABLES.flatMap((t) => fake.chains(t).map((c) => `${t}/${c}`));
  const jumps = PORTAL_TABLES.flatMap((t) =>
    fake
      .chains(t)
      .flatMap((c) => (fake.chain(t, c) ?? []).filter((r) => / -j KUBE-(PORTALS|NODEPORT)-/.test(r))),
  );
  return [...chains.filter((c) => /KUBE-(PORTALS|NODEPORT)-/.test(c)), ...jumps];
}

describe('removePortalRules', () => {
  it('removes every copy of every jump, then the chains', async () => {
    const fake = await installed(3);
    assert.equal(ours(fake).length, 6 + 6 * 3);
    await removePortalRules(fake);
    assert.deepEqual(ours(fake), []);
  });

  it('succeeds when nothing is there', async () => {
    const fake = new FakeIptables('nft');
    await removePortalRules(fake);
    assert.deepEqual(ours(fake), []);
  });
});

describe('cleanupUserspace (kproxy cleanup)', () => {
  it('cleans both backends for auto, and the one named otherwise, in both families', async () => {
    for (const [backend, tools] of [
      ['auto', ['iptables-legacy', 'ip6tables-legacy', 'iptables-nft', 'ip6tables-nft']],
      ['legacy', ['iptables-legacy', 'ip6tables-legacy']],
    ] as const) {
      const calls: string[] = [];
      const exec: Exec = async (command, args) => {
        calls.push(command);
        if (args.includes('-D'))
          return {
            code: 1,
            stdout: '',
            stderr: 'iptables: Bad rule (does a matching rule exist in that chain?).',
          };
        if (args.includes('-F'))
          return { code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.' };
        return { code: 0, stdout: '', stderr: '' };
      };
      await cleanupUserspace({ exec, iptablesBackend: backend });
      assert.deepEqual([...new Set(calls)], tools);
    }
  });

  it('skips a backend whose tools are not installed', async () => {
    const fake = await installed(1);
    const exec: Exec = async (command, args, options) => {
      if (command !== 'iptables-nft') throw new KernelError(command, -1, `spawn ${command} ENOENT`);
      return fake.answer('iptables', args, options?.input ?? '');
    };
    await cleanupUserspace({ exec, iptablesBackend: 'auto' });
    assert.deepEqual(ours(fake), []);
  });

  it('fails loudly on a real iptables error', async () => {
    const exec: Exec = async (_command, args) =>
      args.includes('-D')
        ? { code: 4, stdout: '', stderr: 'iptables: Permission denied' }
        : { code: 0, stdout: '', stderr: '' };
    await assert.rejects(cleanupUserspace({ exec, iptablesBackend: 'auto' }), { code: 'KPROXY_KERNEL' });
  });
});

describe('removeLeftoverPortals (kproxy starting in another mode)', () => {
  const logger = createLogger({ format: 'json', level: 'silent' });
  /** An exec over one fake backend (legacy), recording the commands. */
  function over(fake: FakeIptables): { exec: Exec; calls: string[] } {
    const calls: string[] = [];
    const exec: Exec = async (command, args, options) => {
      calls.push(`${command} ${args.join(' ')}`);
      if (command !== 'iptables-legacy') throw new KernelError(command, -1, `spawn ${command} ENOENT`);
      return fake.answer('iptables', args, options?.input ?? '');
    };
    return { exec, calls };
  }

  it('removes the rules a userspace-mode kproxy left', async () => {
    const fake = await installed(1);
    const { exec } = over(fake);
    assert.deepEqual(await removeLeftoverPortals({ exec, iptablesBackend: 'legacy', logger }, ['IPv4']), [
      'IPv4',
    ]);
    assert.deepEqual(ours(fake), []);
  });

  it('costs one listing when there are none, and never fails the start', async () => {
    const { exec, calls } = over(new FakeIptables('legacy'));
    assert.deepEqual(await removeLeftoverPortals({ exec, iptablesBackend: 'legacy', logger }, ['IPv4']), []);
    assert.equal(calls.length, 1, calls.join('\n'));
    const broken: Exec = async () => ({ code: 4, stdout: '', stderr: 'iptables: Permission denied' });
    assert.deepEqual(
      await removeLeftoverPortals({ exec: broken, iptablesBackend: 'legacy', logger }, ['IPv4', 'IPv6']),
      [],
    );
  });
});
