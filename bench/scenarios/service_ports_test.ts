import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointAt } from '../../src/model/testing/fixtures.ts';
import { clusterIpServicePort } from './service_ports.ts';

describe('clusterIpServicePort', () => {
  it('keys the port as the tracker does and serves every kind of traffic from the same remote endpoints', () => {
    const endpoints = [endpointAt('198.18.101.2:8080')];
    const sp = clusterIpServicePort({ serviceName: 'web', clusterIPs: ['198.19.0.10'], port: 80, endpoints });
    assert.equal(sp.key, 'default/web:http/TCP');
    assert.equal(sp.type, 'ClusterIP');
    assert.deepEqual(sp.externalIPs, []);
    for (const list of [sp.allEndpoints, sp.clusterEndpoints, sp.internalEndpoints, sp.externalEndpoints]) {
      assert.deepEqual(list, endpoints);
    }
    assert.deepEqual(sp.localEndpoints, []);
    const other = clusterIpServicePort({
      namespace: 'bench',
      serviceName: 'a',
      portName: 'p',
      clusterIPs: [],
      externalIPs: ['198.18.0.1'],
      port: 1,
      endpoints: [],
    });
    assert.equal(other.key, 'bench/a:p/TCP');
    assert.deepEqual(other.externalIPs, ['198.18.0.1']);
  });
});
