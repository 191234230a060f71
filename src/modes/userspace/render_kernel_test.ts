// What `kproxy rules --proxy-mode userspace` prints, checked by the real iptables-restore (`--test`: parsed,
// nothing committed) inside a lab namespace: with --proxy-port-range the input is valid as printed; without
// it, the run-time proxy ports are placeholders that iptables-restore refuses, so the printed plan cannot
// be fed to the kernel by mistake. Needs root.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kernelTestSkip, LAB_TOOLS } from '../../lab/kernel_tools.ts';
import { createLab, type Lab } from '../../lab/lab.ts';
import { planUserspace } from './plan.ts';
import { renderPortalRestore } from './render.ts';
import { planOptions, proxyState, servicePort } from './testing/fixtures.ts';

const skip = kernelTestSkip(import.meta.url, { tools: [...LAB_TOOLS, 'iptables-restore'] });

const state = proxyState([
  servicePort({ endpoints: ['10.1.0.1:8080'] }),
  servicePort({ serviceName: 'np', type: 'NodePort', nodePort: 30090, endpoints: ['10.1.0.3:80'] }),
  servicePort({ serviceName: 'dns', protocol: 'UDP', port: 53, clusterIPs: ['10.96.0.53'], endpoints: [] }),
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
});
