/**
 * The UDP service port whose stale conntrack entries the iptables mode's tests follow, shared by the pure
 * function's tests (conntrack_test.ts: which deletions a sync calls for) and the Proxier's (proxier_test.ts:
 * that it runs them). Upstream's address plan (../../common/testing/fixtures.ts).
 *
 * @module
 */
import type { ServicePortState } from '../../../model/types.ts';
import { servicePort } from '../../common/testing/fixtures.ts';

/**
 * The DNS service port: UDP 53 on cluster IP 172.30.0.10, node port 30053.
 *
 * @param endpoints its endpoints, `ip:port`
 * @returns `kube-system/dns:dns/UDP` with these endpoints
 * @example udpDnsPort(['10.180.0.5:53', '10.180.0.6:53'])
 */
export function udpDnsPort(endpoints: readonly string[]): ServicePortState {
  return servicePort({
    namespace: 'kube-system',
    serviceName: 'dns',
    portName: 'dns',
    protocol: 'UDP',
    port: 53,
    nodePort: 30053,
    type: 'NodePort',
    clusterIPs: ['172.30.0.10'],
    endpoints,
  });
}
