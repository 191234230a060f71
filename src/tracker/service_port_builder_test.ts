import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointAddress, endpointSliceSpec, serviceSpec } from '../model/testing/fixtures.ts';
import type { EndpointAddressSpec } from '../model/types.ts';
import { buildServicePorts } from './service_port_builder.ts';

function build(...slices: EndpointAddressSpec[][]) {
  const specs = slices.map((endpoints, i) => endpointSliceSpec({ name: `web-${i}`, endpoints }));
  const [port] = buildServicePorts(serviceSpec(), specs, 'node-a');
  return port!.allEndpoints.map(
    (e) => `${e.ip} ${e.ready ? 'ready' : e.serving ? 'serving' : 'down'} ${e.nodeName}`,
  );
}

describe('buildServicePorts', () => {
  it('orders IPv4 addresses as numbers and the others as text, IPv4 ones that net.isIPv4 refuses too', () => {
    const ips = ['198.18.1.10', 'fd00::2', '198.18.1.9', '198.18.01.1', 'fd00::10', '198.18.1.255'];
    assert.deepEqual(
      build(ips.map((ip) => endpointAddress(ip))).map((e) => e.split(' ')[0]),
      // 198.18.01.1 is not IPv4 for net.isIPv4: compared as text against the others.
      ['198.18.01.1', '198.18.1.9', '198.18.1.10', '198.18.1.255', 'fd00::10', 'fd00::2'],
    );
  });

  it('keeps one endpoint per address and port: ready before serving before the first listed', () => {
    const down = { ready: false, serving: false };
    const serving = { ready: false, serving: true, terminating: true };
    assert.deepEqual(
      build(
        [
          endpointAddress('198.18.1.2', { ...down, nodeName: 'n1' }),
          endpointAddress('198.18.1.1', { nodeName: 'n1' }),
        ],
        [
          endpointAddress('198.18.1.2', { ...serving, nodeName: 'n2' }),
          endpointAddress('198.18.1.1', { nodeName: 'n2' }),
        ],
        [
          endpointAddress('198.18.1.2', { ...down, nodeName: 'n3' }),
          endpointAddress('198.18.1.3', { ...down, nodeName: 'n3' }),
        ],
      ),
      ['198.18.1.1 ready n1', '198.18.1.2 serving n2', '198.18.1.3 down n3'],
    );
  });
});
