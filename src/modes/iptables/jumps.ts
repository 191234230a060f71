/**
 * The iptables mode's jumps from the built-in chains into its own chains (the ipvs mode has its own
 * list, `IPVS_JUMPS`). The applier inserts them once at the top of each built-in chain instead of
 * rewriting chains it does not own.
 *
 * @module
 */
import {
  type JumpRule,
  jumpRule,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FORWARD,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from '../common/iptables_base_chains.ts';

const NEW = '-m conntrack --ctstate NEW ';

/**
 * The iptables mode's jumps, in the order each built-in chain should end up with them (first = first
 * rule of that chain), as upstream installs them.
 */
export const IPTABLES_JUMPS: readonly JumpRule[] = [
  jumpRule('filter', 'INPUT', KUBE_PROXY_FIREWALL, 'kubernetes load balancer firewall', NEW),
  jumpRule('filter', 'INPUT', KUBE_NODEPORTS, 'kubernetes health check service ports'),
  jumpRule('filter', 'INPUT', KUBE_EXTERNAL_SERVICES, 'kubernetes externally-visible service portals', NEW),
  jumpRule('filter', 'FORWARD', KUBE_PROXY_FIREWALL, 'kubernetes load balancer firewall', NEW),
  jumpRule('filter', 'FORWARD', KUBE_FORWARD, 'kubernetes forwarding rules'),
  jumpRule('filter', 'FORWARD', KUBE_SERVICES, 'kubernetes service portals', NEW),
  jumpRule('filter', 'FORWARD', KUBE_EXTERNAL_SERVICES, 'kubernetes externally-visible service portals', NEW),
  jumpRule('filter', 'OUTPUT', KUBE_PROXY_FIREWALL, 'kubernetes load balancer firewall', NEW),
  jumpRule('filter', 'OUTPUT', KUBE_SERVICES, 'kubernetes service portals', NEW),
  jumpRule('nat', 'PREROUTING', KUBE_SERVICES, 'kubernetes service portals'),
  jumpRule('nat', 'OUTPUT', KUBE_SERVICES, 'kubernetes service portals'),
  jumpRule('nat', 'POSTROUTING', KUBE_POSTROUTING, 'kubernetes postrouting rules'),
];
