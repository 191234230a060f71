// What `kproxy rules --proxy-mode userspace` prints, checked by the real iptables-restore (`--test`: parsed,
// nothing committed) inside a lab namespace: with --proxy-port-range the input is valid as printed; without
// it, the run-time proxy ports are placeholders that iptables-restore refuses, so the printed plan cannot
// be fed to the kernel by mistake. The IPv6 plan's input is checked by ip6tables-restore. Needs root.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';
import { createLab, type Lab } from '../../lab/lab.ts';
import { planUserspace } from './plan.ts';
import { renderPortalRestore } from './render.ts';
import { planOptions, proxyState, servicePort } from './testing/fixtures.ts';

const skip = kernelTestSkip(import.meta.url, {
  tools: [...LAB_TOOLS, 'iptables-restore', 'ip6tables-restore'],
});

const state = proxyState([
  servicePort({ endpoints: ['10.1.0.1:8080'] }),
  servicePort({ serviceName: 'np', type: 'NodePort', nodePort: 30090, endpoints: ['10.1.0.3:80'] }),
  servicePort({ serviceName: 'dns', protocol: 'UDP', port: 53, clusterIPs: ['10.96.0.53'], endpoints: [] }),
]);

// Dual-stack and IPv6-only services (2001:db8::/32 VIPs, endpoints and node IP: documentation addresses).
const state6 = proxyState([
  servicePort({
    serviceName: 'dual',
    type: 'NodePort',
    nodePort: 30091,
    clusterIPs: ['10.96.0.20', '2001:db8::20'],
    ipFamilies: ['IPv4', 'IPv6'],
    externalIPs: ['2001:db8:1::7'],
    endpoints: ['10.1.0.4:80', '[2001:db8:2::4]:80'],
  }),
  servicePort({
    serviceName: 'dns6',
    protocol: 'UDP',
    port: 53,
    clusterIPs: ['2001:db8::53'],
    ipFamilies: ['IPv6'],
    endpoints: ['[2001:db8:2::5]:53'],
  }),
]);

describe('userspace rules as printed, fed to iptables-restore --test', { skip }, () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({ tag: 'rnd', clients: 0, pods: 0, servers: false });
  });
  after(async () => {
    await lab?.destroy();
  });

  async function restoreTest(input: string): Promise<{ code: number; stderr: string }> {
    return lab.exec(lab.node.ns, ['iptables-restore', '--test', '--noflush'], { input });
  }

  it('accepts the input printed with --proxy-port-range', async () => {
    const input = renderPortalRestore(
      planUserspace(state, planOptions({ proxyPortRange: { from: 40000, to: 40100 } })),
    );
    const result = await restoreTest(input);
    assert.equal(result.code, 0, result.stderr);
  });

  it('rejects the input printed without a range (PROXY_PORT_<n> placeholders)', async () => {
    const input = renderPortalRestore(planUserspace(state, planOptions()));
    assert.match(input, /--to-ports PROXY_PORT_1$/m);
    const result = await restoreTest(input);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /PROXY_PORT_\d/);
  });

  it('accepts the IPv6 plan printed with --proxy-port-range, in ip6tables-restore', async () => {
    const options = planOptions({
      ipFamily: 'IPv6',
      nodeIPs: ['2001:db8::a'],
      nodePortAddresses: ['2001:db8::/64'],
      proxyPortRange: { from: 40000, to: 40100 },
    });
    const input = renderPortalRestore(planUserspace(state6, options));
    assert.match(input, /-d 2001:db8::20\/128 -j DNAT --to-destination \[2001:db8::a\]:40000$/m);
    const result = await lab.exec(lab.node.ns, ['ip6tables-restore', '--test', '--noflush'], { input });
    assert.equal(result.code, 0, result.stderr);
  });
});
