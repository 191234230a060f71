/**
 * The nft seam over the strict fake (which answers as nft 1.0.6 does, see nft_kernel_test.ts), and over
 * output captured from the real nft 1.0.6: transactions, checks, listings, deletes, the host check.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Exec, KernelError } from './exec.ts';
import { checkNftHost, createNft, NftTransactionError, NftUnavailableError, parseNftErrors } from './nft.ts';
import { NftParseError, parseTableListing } from './nft_listing.ts';
import { FakeNft } from './testing/nft_fake.ts';

const TABLE = [
  'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
  'add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }',
  'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }',
  'add set ip kube-proxy affinity-X { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }',
  'add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }',
  'add chain ip kube-proxy services',
  'add chain ip kube-proxy service-X',
  'add rule ip kube-proxy nat-prerouting jump services',
  'add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips',
  'add rule ip kube-proxy service-X ip saddr @affinity-X accept',
  'add element ip kube-proxy cluster-ips { 172.30.0.41 }',
  'add element ip kube-proxy service-ips {',
  '\t172.30.0.41 . tcp . 80 comment "ns1/svc1:p80" : goto service-X,',
  '\t172.30.0.41 . udp . 53 : drop',
  '}',
  '',
].join('\n');

/** An exec that records each command line (with its input) and passes it to the fake. */
function recording(fake: FakeNft): Exec & { calls: string[] } {
  const calls: string[] = [];
  const exec: Exec = async (command, args, options) => {
    calls.push([command, ...args].join(' '));
    return fake.exec(command, args, options);
  };
  return Object.assign(exec, { calls });
}

describe('createNft: transactions', () => {
  it('applies a script as one nft -f - with the script on stdin, and checks one with nft -c -f -', async () => {
    const fake = new FakeNft();
    const exec = recording(fake);
    const nft = createNft(exec);
    await nft.check(TABLE);
    assert.deepEqual(fake.tables(), []);
    await nft.apply(TABLE);
    assert.deepEqual(exec.calls, ['nft -c -f -', 'nft -f -']);
    assert.deepEqual(fake.tables(), ['ip kube-proxy']);
    assert.deepEqual(
      fake.transactions.map((t) => [t.script, t.check]),
      [
        [TABLE, true],
        [TABLE, false],
      ],
    );
  });

  it('reports a refused transaction with its line, reason and text, the command and exit code; nothing changes', async () => {
    const fake = new FakeNft();
    const nft = createNft(fake.exec);
    await nft.apply(TABLE);
    const script = [
      'add chain ip kube-proxy service-Y',
      'add rule ip kube-proxy service-Y jump endpoint-nope',
      'add element ip kube-proxy cluster-ips { 172.30.0.42 }',
      '',
    ].join('\n');
    const error = await nft.apply(script).catch((e: unknown) => e);
    assert.ok(error instanceof NftTransactionError);
    assert.equal(error.code, 'KPROXY_NFT_REFUSED');
    assert.equal(error.line, 2);
    assert.equal(error.lineText, 'add rule ip kube-proxy service-Y jump endpoint-nope');
    assert.equal(error.reason, 'No such file or directory');
    assert.equal(error.command, 'nft -f -');
    assert.equal(error.exitCode, 1);
    assert.equal(
      error.message,
      'Transaction refused at line 2 (nft -f -, exit 1): No such file or directory: add rule ip kube-proxy service-Y jump endpoint-nope',
    );
    assert.ok(error.cause instanceof KernelError);
    assert.equal(error.cause.command, 'nft -f -');
    assert.equal(
      error.cause.stderr,
      [
        '/dev/stdin:2:39-51: Error: No such file or directory',
        'add rule ip kube-proxy service-Y jump endpoint-nope',
        `${' '.repeat(38)}${'^'.repeat(13)}`,
        '',
      ].join('\n'),
    );
    assert.equal(fake.chains('ip', 'kube-proxy')?.includes('service-Y'), false);
    assert.deepEqual(fake.elements('ip', 'kube-proxy', 'cluster-ips'), ['172.30.0.41']);
    await assert.rejects(nft.check(script), { code: 'KPROXY_NFT_REFUSED', line: 2 });
  });

  it('reads every error nft printed (real nft 1.0.6 output), and one without a place', () => {
    const stderr = [
      "/dev/stdin:3:23-26: Error: No such file or directory; did you mean chain 'c2' in table ip 't'?",
      'add rule ip fx a jump nope',
      '                      ^^^^',
      '/dev/stdin:4:27-33: Error: Could not process rule: No such file or directory',
      'add element ip fx ports { tcp . 1 : goto nope2 }',
      '                          ^^^^^^^',
      '',
    ].join('\n');
    assert.deepEqual(parseNftErrors(stderr), [
      { line: 3, reason: "No such file or directory; did you mean chain 'c2' in table ip 't'?" },
      { line: 4, reason: 'Could not process rule: No such file or directory' },
    ]);
    const script =
      'add table ip fx\nadd chain ip fx a\nadd rule ip fx a jump nope\nadd element ip fx ports { tcp . 1 : goto nope2 }\n';
    const error = new NftTransactionError('nft -f -', 1, stderr, parseNftErrors(stderr), script);
    assert.match(
      error.message,
      /^Transaction refused at line 3 \(nft -f -, exit 1\): No such .*'t'\? \(and 1 more\): add rule ip fx a jump nope$/,
    );
    const bare = 'netlink: Error: cache initialization failed: Operation not permitted\n';
    const denied = new NftTransactionError('nft -f -', 1, bare, parseNftErrors(bare), script);
    assert.equal(denied.line, 0);
    assert.equal(denied.lineText, undefined);
    assert.equal(
      denied.message,
      'Transaction refused (nft -f -, exit 1): netlink: Error: cache initialization failed: Operation not permitted',
    );
  });

  it('makes an injected failure a refused transaction', async () => {
    const fake = new FakeNft();
    fake.failNextTransaction();
    await assert.rejects(createNft(fake.exec).apply(TABLE), { code: 'KPROXY_NFT_REFUSED', line: 1 });
    assert.deepEqual(fake.tables(), []);
    await createNft(fake.exec).apply(TABLE);
    assert.deepEqual(fake.tables(), ['ip kube-proxy']);
  });
});

describe('createNft: listings', () => {
  it('lists a table as typed state: base chains, rule counts, sets and maps with their elements', async () => {
    const fake = new FakeNft();
    const nft = createNft(fake.exec);
    assert.equal(await nft.listTable('ip', 'kube-proxy'), undefined);
    await nft.apply(TABLE);
    const table = await nft.listTable('ip', 'kube-proxy');
    assert.deepEqual(
      [...(table?.chains.values() ?? [])],
      [
        {
          name: 'nat-prerouting',
          base: { type: 'nat', hook: 'prerouting', priority: -100, policy: 'accept' },
          rules: 1,
        },
        { name: 'service-X', base: undefined, rules: 1 },
        { name: 'services', base: undefined, rules: 1 },
      ],
    );
    assert.deepEqual(table?.containers.get('service-ips'), {
      kind: 'map',
      name: 'service-ips',
      keyType: ['ipv4_addr', 'inet_proto', 'inet_service'],
      valueType: 'verdict',
      timeoutSeconds: undefined,
      comment: undefined,
      elements: [
        { key: ['172.30.0.41', 'tcp', '80'], value: 'goto service-X', comment: 'ns1/svc1:p80' },
        { key: ['172.30.0.41', 'udp', '53'], value: 'drop', comment: undefined },
      ],
    });
    assert.deepEqual([...(table?.containers.keys() ?? [])], ['affinity-X', 'cluster-ips', 'service-ips']);
    assert.equal(table?.containers.get('affinity-X')?.timeoutSeconds, 10800);
    assert.equal(table?.containers.get('cluster-ips')?.comment, 'Active ClusterIPs');
  });

  it('lists one set or map cheaply (the canary), the chains, the tables; undefined for what is missing', async () => {
    const fake = new FakeNft();
    const exec = recording(fake);
    const nft = createNft(exec);
    assert.equal(await nft.listContainer('ip', 'kube-proxy', 'set', 'cluster-ips'), undefined);
    assert.deepEqual(await nft.listChains('ip', 'kube-proxy'), []);
    await nft.apply(TABLE);
    await nft.apply('add table ip other\nadd chain ip other c\n');
    fake.addFromPacketPath('ip', 'kube-proxy', 'affinity-X', ['10.0.0.1']);
    assert.deepEqual((await nft.listContainer('ip', 'kube-proxy', 'set', 'affinity-X'))?.elements, [
      { key: ['10.0.0.1'], value: undefined, comment: undefined },
    ]);
    assert.equal(await nft.listContainer('ip', 'kube-proxy', 'map', 'cluster-ips'), undefined);
    assert.deepEqual(
      (await nft.listChains('ip', 'kube-proxy')).map((c) => c.name),
      ['nat-prerouting', 'service-X', 'services'],
    );
    assert.deepEqual(await nft.listTables(), [
      { family: 'ip', name: 'kube-proxy' },
      { family: 'ip', name: 'other' },
    ]);
    assert.ok(exec.calls.includes('nft -j list set ip kube-proxy affinity-X'));
    assert.ok(exec.calls.includes('nft -j list chains ip'));
  });

  it('reads the JSON of the real nft 1.0.6: element comments, timeouts, prefixes, rules with expressions', () => {
    const state = parseTableListing(REAL_LISTING, 'ip', 'fx');
    assert.deepEqual(
      [...state.chains.values()].map((c) => [c.name, c.base?.hook, c.rules]),
      [
        ['pre', 'prerouting', 1],
        ['svc', undefined, 2],
      ],
    );
    assert.deepEqual(state.containers.get('ports')?.elements, [
      { key: ['tcp', '30080'], value: 'goto svc', comment: 'ns/svc:http' },
      { key: ['udp', '53'], value: 'drop', comment: undefined },
    ]);
    assert.deepEqual(
      state.containers.get('ranges')?.elements.map((e) => e.key),
      [['10.0.0.0/8'], ['192.168.1.1']],
    );
    assert.deepEqual(
      state.containers.get('aff')?.elements.map((e) => e.key),
      [['10.0.0.1']],
    );
    assert.equal(state.containers.get('aff')?.timeoutSeconds, 10800);
  });

  it('refuses JSON it cannot read, and a listing that fails for another reason than a missing table', async () => {
    assert.throws(() => parseTableListing('{"nftables": [', 'ip', 'fx'), NftParseError);
    assert.throws(() => parseTableListing(REAL_LISTING, 'ip', 'kube-proxy'), { code: 'KPROXY_NFT_PARSE' });
    const odd = REAL_LISTING.replace('{"drop":null}', '{"queue":{"num":1}}');
    assert.throws(() => parseTableListing(odd, 'ip', 'fx'), /a map value kproxy does not read/);
    const denied = createNft(async () => ({
      code: 1,
      stdout: '',
      stderr: 'Error: Operation not permitted\n',
    }));
    await assert.rejects(denied.listTable('ip', 'kube-proxy'), {
      code: 'KPROXY_KERNEL',
      command: 'nft -j list table ip kube-proxy',
    });
  });
});

describe('createNft: deleteTable and version', () => {
  it('deletes a table, and says false when there is none', async () => {
    const fake = new FakeNft();
    const nft = createNft(fake.exec);
    await nft.apply(TABLE);
    assert.equal(await nft.deleteTable('ip', 'kube-proxy'), true);
    assert.deepEqual(fake.tables(), []);
    assert.equal(await nft.deleteTable('ip', 'kube-proxy'), false);
    const denied = createNft(async () => ({
      code: 1,
      stdout: '',
      stderr: 'Error: Operation not permitted\n',
    }));
    await assert.rejects(denied.deleteTable('ip', 'kube-proxy'), { code: 'KPROXY_KERNEL' });
  });

  it("reads nft's version", async () => {
    assert.equal(await createNft(new FakeNft().exec).version(), '1.0.6');
    const odd = createNft(async () => ({ code: 0, stdout: 'nft, some version\n', stderr: '' }));
    await assert.rejects(odd.version(), NftUnavailableError);
  });
});

describe('checkNftHost', () => {
  const kernelRelease = '6.1.0-18-amd64';

  it('passes with nft 1.0.1 or later, Linux 5.13 or later, and a kernel that takes the probe script', async () => {
    const fake = new FakeNft();
    assert.deepEqual(await checkNftHost(fake.exec, { kernelRelease }), {
      nft: '1.0.6',
      kernel: kernelRelease,
    });
    assert.deepEqual(await checkNftHost(fake.exec, { kernelRelease, family: 'ip6' }), {
      nft: '1.0.6',
      kernel: kernelRelease,
    });
    assert.deepEqual(fake.tables(), [], 'the probe is only checked, never committed');
    assert.deepEqual(
      fake.transactions.map((t) => t.check),
      [true, true],
    );
  });

  it('names a missing nft: not on the host, or not in the namespace', async () => {
    const spawnFailure = new KernelError('nft --version', -1, 'Error: spawn nft ENOENT');
    const missing: Exec = async () => {
      throw spawnFailure;
    };
    const error = await checkNftHost(missing, { kernelRelease }).catch((e: unknown) => e);
    assert.ok(error instanceof NftUnavailableError);
    assert.equal(error.code, 'KPROXY_NFT_UNAVAILABLE');
    assert.equal(error.cause, spawnFailure);
    assert.match(
      error.message,
      /^Cannot run nft \(the nftables mode needs nft 1\.0\.1 or later, from the nftables package\): .*ENOENT/,
    );
    const inNetns: Exec = async () => ({
      code: 1,
      stdout: '',
      stderr: 'exec of "nft" failed: No such file or directory\n',
    });
    await assert.rejects(
      checkNftHost(inNetns, { kernelRelease }),
      /^NftUnavailableError: Cannot run nft .*exec of "nft" failed/,
    );
  });

  it('names an nft or a kernel that is too old', async () => {
    await assert.rejects(checkNftHost(new FakeNft({ version: '0.9.8' }).exec, { kernelRelease }), {
      code: 'KPROXY_NFT_UNAVAILABLE',
      message: 'The nftables mode needs nft 1.0.1 or later: this host has nft 0.9.8',
    });
    await assert.rejects(checkNftHost(new FakeNft().exec, { kernelRelease: '5.10.0-28-amd64' }), {
      code: 'KPROXY_NFT_UNAVAILABLE',
      message: 'The nftables mode needs Linux 5.13 or later: this host runs 5.10.0-28-amd64',
    });
  });

  it('names the feature a kernel refuses', async () => {
    const fake = new FakeNft();
    const noNumgen: Exec = async (command, args, options) => {
      const input = options?.input ?? '';
      const line = input.split('\n').findIndex((l) => l.includes('numgen')) + 1;
      if (args.includes('-c') && line > 0) {
        return {
          code: 1,
          stdout: '',
          stderr: `/dev/stdin:${line}:1-10: Error: Could not process rule: No such file or directory\n`,
        };
      }
      return fake.exec(command, args, options);
    };
    const error = await checkNftHost(noNumgen, { kernelRelease }).catch((e: unknown) => e);
    assert.ok(error instanceof NftUnavailableError);
    assert.match(
      error.message,
      /^The kernel lacks an nftables feature the mode needs: Could not process rule: No such file or directory: add rule ip kproxy-probe service numgen random mod 1 vmap/,
    );
    assert.ok(error.cause instanceof NftTransactionError);
  });
});

/** `nft -j list table ip fx` of nft 1.0.6 on Linux 6.18 (one affinity entry, its expiry rounded). */
const REAL_LISTING = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'fx', handle: 15 } },
    {
      set: {
        family: 'ip',
        name: 'aff',
        table: 'fx',
        type: 'ipv4_addr',
        handle: 1,
        flags: ['timeout'],
        timeout: 10800,
        elem: [{ elem: { val: '10.0.0.1', expires: 10799 } }],
      },
    },
    {
      set: {
        family: 'ip',
        name: 'ranges',
        table: 'fx',
        type: 'ipv4_addr',
        handle: 2,
        comment: 'ranges',
        flags: ['interval'],
        elem: [{ prefix: { addr: '10.0.0.0', len: 8 } }, '192.168.1.1'],
      },
    },
    {
      map: {
        family: 'ip',
        name: 'ports',
        table: 'fx',
        type: ['inet_proto', 'inet_service'],
        handle: 3,
        map: 'verdict',
        elem: [
          [{ concat: ['udp', 53] }, { drop: null }],
          [
            { elem: { val: { concat: ['tcp', 30080] }, comment: 'ns/svc:http' } },
            { goto: { target: 'svc' } },
          ],
        ],
      },
    },
    { chain: { family: 'ip', table: 'fx', name: 'svc', handle: 4 } },
    {
      chain: {
        family: 'ip',
        table: 'fx',
        name: 'pre',
        handle: 5,
        type: 'nat',
        hook: 'prerouting',
        prio: -100,
        policy: 'accept',
      },
    },
    {
      rule: {
        family: 'ip',
        table: 'fx',
        chain: 'svc',
        handle: 7,
        comment: 'sticky',
        expr: [
          { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@aff' } },
          { accept: null },
        ],
      },
    },
    { rule: { family: 'ip', table: 'fx', chain: 'svc', handle: 8, expr: [{ drop: null }] } },
    {
      rule: {
        family: 'ip',
        table: 'fx',
        chain: 'pre',
        handle: 6,
        expr: [
          {
            vmap: {
              key: {
                concat: [{ meta: { key: 'l4proto' } }, { payload: { protocol: 'th', field: 'dport' } }],
              },
              data: '@ports',
            },
          },
        ],
      },
    },
  ],
});
