// `kproxy rules` and `kproxy trace` on a dual-stack Service, in process, with a fake mode (so that these tests
// do not wait for any mode's IPv6 support): which family's plan is printed or traced, and which flags are
// refused. Addresses: IPv4 198.18.0.0/15, IPv6 2001:2::/48 (VIPs 198.18.100.10 / 2001:2:0:f::10).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PlanOptions } from '../contracts/plan_options.ts';
import type { ProxyMode } from '../contracts/proxy_mode.ts';
import type { TracePacket } from '../contracts/trace.ts';
import type { IPFamily, ProxyState } from '../model/types.ts';
import type { ModeDefinition } from '../modes/mode.ts';
import { FlagError } from './flags.ts';
import { buildProgram } from './main.ts';

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  clusterIP: 198.18.100.10
  clusterIPs: [198.18.100.10, "2001:2:0:f::10"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: four, namespace: shop }
spec:
  clusterIP: 198.18.100.4
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-v4, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [198.18.1.1]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-v6, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv6
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: ["2001:2:0:1::1"]
`;

/** A mode that prints and traces what it is given: the family, the service ports' cluster IPs and endpoints. */
function fakeMode(ipFamilies: readonly IPFamily[]) {
  const traced: { state: ProxyState; options: PlanOptions; packet: TracePacket }[] = [];
  const describeState = (state: ProxyState) =>
    [...state.servicePorts.values()]
      .map((p) => `${p.key} ${p.clusterIPs.join(',')} -> ${p.clusterEndpoints.map((e) => e.ip).join(',')}`)
      .join('\n');
  const mode: ModeDefinition = {
    name: 'nftables',
    ipFamilies,
    renderRules: (state, options) =>
      `${options.ipFamily} plan, node ${options.nodeIPs.join(',')}\n${describeState(state)}\n`,
    trace: (state, options, packet) => {
      traced.push({ state, options, packet });
      return {
        verdict: 'DNAT',
        masquerade: false,
        backends: [...state.servicePorts.values()]
          .filter((p) => p.clusterIPs.includes(packet.destination))
          .flatMap((p) => p.clusterEndpoints)
          .map((e) => ({
            address: e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`,
            probability: 1,
          })),
        path: [`${options.ipFamily} plan`],
      };
    },
    checkHost: async () => {},
    createProxier: () => {
      throw new Error('Not used by rules and trace');
    },
    cleanup: async () => {},
  };
  return { mode, traced };
}

describe('kproxy rules and trace, dual-stack', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kproxy-ds-cli-'));
    await writeFile(join(dir, 'svc.yaml'), MANIFESTS);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs the CLI in process on the fake mode; resolves with stdout, rejects with what the action threw. */
  async function kproxy(mode: ModeDefinition, args: string[]): Promise<string> {
    let out = '';
    let err = '';
    const loaded: ProxyMode[] = [];
    const program = buildProgram(
      {
        out: (s) => {
          out += s;
        },
        err: (s) => {
          err += s;
        },
      },
      {
        loadMode: async (name) => {
          loaded.push(name);
          return mode;
        },
      },
    );
    program.exitOverride();
    for (const c of program.commands) c.exitOverride();
    await program.parseAsync([
      'node',
      'kproxy',
      args[0] ?? '',
      '--proxy-mode',
      'nftables',
      '--manifests',
      dir,
      '--hostname-override',
      'node-a',
      '--node-ip',
      '198.18.0.1,2001:2::1',
      ...args.slice(1),
    ]);
    assert.deepEqual(loaded, ['nftables']);
    assert.equal(err, '', 'no problem in the manifests');
    return out;
  }

  const trace = (mode: ModeDefinition, from: string, to: string, ...rest: string[]) =>
    kproxy(mode, ['trace', '--from', from, '--to', to, ...rest]);

  it('rules prints # IPv4 then # IPv6, each family with its own services, addresses and node IPs', async () => {
    const out = await kproxy(fakeMode(['IPv4', 'IPv6']).mode, ['rules']);
    assert.equal(
      out,
      [
        '# IPv4',
        'IPv4 plan, node 198.18.0.1',
        'shop/four:http/TCP 198.18.100.4 -> ',
        'shop/web:http/TCP 198.18.100.10 -> 198.18.1.1',
        '# IPv6',
        'IPv6 plan, node 2001:2::1',
        'shop/web:http/TCP 2001:2:0:f::10 -> 2001:2:0:1::1',
        '',
      ].join('\n'),
    );
  });

  it('rules --ip-family prints one family bare, ready for its tool', async () => {
    const mode = fakeMode(['IPv4', 'IPv6']).mode;
    assert.equal(
      await kproxy(mode, ['rules', '--ip-family', 'IPv6']),
      'IPv6 plan, node 2001:2::1\nshop/web:http/TCP 2001:2:0:f::10 -> 2001:2:0:1::1\n',
    );
    assert.match(await kproxy(mode, ['rules', '--ip-family', 'IPv4']), /^IPv4 plan, node 198\.18\.0\.1\n/);
  });

  it('rules says which family a mode does not plan yet, and refuses --ip-family for it', async () => {
    const mode = fakeMode(['IPv4']).mode;
    const out = await kproxy(mode, ['rules']);
    assert.match(out, /^# IPv4\nIPv4 plan/);
    assert.ok(out.endsWith('# IPv6: not planned by the nftables mode\n'), out);
    await assert.rejects(
      kproxy(mode, ['rules', '--ip-family', 'IPv6']),
      (e) =>
        e instanceof FlagError && e.message === 'Invalid --ip-family: the nftables mode does not plan IPv6',
    );
  });

  it('trace routes an IPv6 packet to the IPv6 plan and prints IPv6 addresses in brackets', async () => {
    const fake = fakeMode(['IPv4', 'IPv6']);
    const out = await trace(fake.mode, '2001:2:0:c0::2', '[2001:2:0:f::10]:80/tcp');
    assert.equal(
      out,
      [
        'packet 2001:2:0:c0::2 -> [2001:2:0:f::10]:80/tcp',
        '  IPv6 plan',
        'verdict: DNAT',
        '  -> [2001:2:0:1::1]:8080  100.0%',
        '',
      ].join('\n'),
    );
    const [call] = fake.traced;
    assert.equal(call?.state.ipFamily, 'IPv6');
    assert.deepEqual(call?.options.nodeIPs, ['2001:2::1']);
    assert.deepEqual(call?.packet, {
      source: '2001:2:0:c0::2',
      destination: '2001:2:0:f::10',
      port: 80,
      protocol: 'TCP',
    });
  });

  it('trace writes addresses canonically before matching (upper case, zeros)', async () => {
    const fake = fakeMode(['IPv4', 'IPv6']);
    const out = await trace(fake.mode, '2001:0002:0:C0:0:0:0:2', '[2001:2:0:F:0::10]:80', '--json');
    assert.deepEqual(JSON.parse(out).backends, [{ address: '[2001:2:0:1::1]:8080', probability: 1 }]);
    assert.equal(fake.traced[0]?.packet.source, '2001:2:0:c0::2');
    assert.equal(fake.traced[0]?.packet.destination, '2001:2:0:f::10');
  });

  it('trace routes an IPv4 packet to the IPv4 plan', async () => {
    const fake = fakeMode(['IPv4', 'IPv6']);
    const out = await trace(fake.mode, '198.18.5.5', '198.18.100.10:80/tcp');
    assert.match(out, /^packet 198\.18\.5\.5 -> 198\.18\.100\.10:80\/tcp\n {2}IPv4 plan\n/);
    assert.match(out, / {2}-> 198\.18\.1\.1:8080 {2}100\.0%\n$/);
    assert.equal(fake.traced[0]?.state.ipFamily, 'IPv4');
  });

  it('trace of an IPv6 packet on a mode without IPv6 answers NONE, saying why', async () => {
    const out = await trace(fakeMode(['IPv4']).mode, '2001:2:0:c0::2', '[2001:2:0:f::10]:80');
    assert.match(out, /The nftables mode does not plan IPv6\nverdict: NONE\n$/);
  });

  it('refuses a packet of two families with a FlagError naming both', async () => {
    await assert.rejects(
      trace(fakeMode(['IPv4', 'IPv6']).mode, '198.18.5.5', '[2001:2:0:f::10]:80'),
      (e) =>
        e instanceof FlagError &&
        e.message ===
          'Invalid --from: 198.18.5.5 is IPv4 and the destination 2001:2:0:f::10 is IPv6: a packet has one IP family',
    );
    await assert.rejects(
      trace(fakeMode(['IPv4', 'IPv6']).mode, '2001:2:0:c0::2', '198.18.100.10:80'),
      (e) => e instanceof FlagError && /is IPv6 and the destination 198\.18\.100\.10 is IPv4/.test(e.message),
    );
  });

  it('refuses bad addresses with a FlagError naming the flag', async () => {
    const mode = fakeMode(['IPv4', 'IPv6']).mode;
    const cases: [string, string, RegExp][] = [
      ['2001:zz::1', '[2001:2:0:f::10]:80', /^Invalid --from: "2001:zz::1" is not an IP address$/],
      ['198.18.5.999', '198.18.100.10:80', /^Invalid --from: "198\.18\.5\.999" is not an IP address$/],
      ['fe80::1%eth0', '[2001:2:0:f::10]:80', /^Invalid --from: "fe80::1%eth0" is not an IP address$/],
      ['2001:2::5', '[2001:2::g]:80', /^Invalid --to: /],
      ['2001:2::5', '2001:2:0:f::10:80', /^Invalid --to: expected IP:PORT/],
      ['2001:2::5', '[2001:2:0:f::10]:70000', /^Invalid --to: expected IP:PORT/],
      ['198.18.5.5', '198.18.100.300:80', /^Invalid --to: "198\.18\.100\.300" is not an IP address$/],
    ];
    for (const [from, to, message] of cases) {
      await assert.rejects(
        trace(mode, from, to),
        (e) => e instanceof FlagError && message.test(e.message),
        `${from} -> ${to}`,
      );
    }
  });
});
