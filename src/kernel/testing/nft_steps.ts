/**
 * Scripts with what nft 1.0.6 (Linux 6.x) does with them, checked against the real nft in a kpt- namespace
 * by src/kernel/nft_kernel_test.ts and against the strict fake without root by nft_fake_test.ts: every
 * golden script of the nftables mode in turn, partial updates as its applier writes them, and scripts
 * nft refuses, with the line it names. Run in this order, each over the state the steps before left.
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';

const GOLDEN = new URL('../../modes/nftables/testdata/', import.meta.url);
const T = 'ip kube-proxy';
/** An IPv6 table of its own, beside the `ip6 kube-proxy` the golden scripts leave. */
const T6 = 'ip6 kpt-v6';

/** One script, and what nft does with it. */
export interface NftStep {
  readonly name: string;
  readonly script: string;
  /** The first line nft complains about; undefined when nft accepts the script. */
  readonly refusedAt: number | undefined;
  /** `nft -c -f -`: checked, never committed. */
  readonly check?: boolean;
}

const ok = (name: string, ...lines: string[]): NftStep => ({
  name,
  script: `${lines.join('\n')}\n`,
  refusedAt: undefined,
});
const refused = (name: string, line: number, ...lines: string[]): NftStep => ({
  name,
  script: `${lines.join('\n')}\n`,
  refusedAt: line,
});

/**
 * Every golden script of the nftables mode, in name order: each is accepted, over the table the one
 * before left.
 *
 * @returns the steps
 */
export function goldenSteps(): NftStep[] {
  return readdirSync(GOLDEN)
    .filter((f) => f.endsWith('.golden'))
    .sort()
    .map((f) => ({
      name: `golden ${f}`,
      script: readFileSync(new URL(f, GOLDEN), 'utf8'),
      refusedAt: undefined,
    }));
}

const SERVICE = 'service-AAAAAAAA-ns9/svc9/tcp/p80';
const ENDPOINT = 'endpoint-BBBBBBBB-ns9/svc9/tcp/p80__10.180.9.1/80';

/** Partial syncs as the applier writes them, and other accepted scripts, over the table the goldens left. */
export const PARTIAL_STEPS: readonly NftStep[] = [
  ok(
    'a new service port: its chains, rules and map elements',
    `add chain ${T} ${SERVICE}`,
    `flush chain ${T} ${SERVICE}`,
    `add chain ${T} ${ENDPOINT}`,
    `flush chain ${T} ${ENDPOINT}`,
    `add rule ${T} ${SERVICE} numgen random mod 1 vmap { 0 : goto ${ENDPOINT} }`,
    `add rule ${T} ${ENDPOINT} ip saddr 10.180.9.1 jump mark-for-masquerade`,
    `add rule ${T} ${ENDPOINT} meta l4proto tcp dnat to 10.180.9.1:80`,
    `add element ${T} service-ips {`,
    `\t172.30.9.1 . tcp . 80 : goto ${SERVICE},`,
    `\t172.30.9.2 . udp . 53 comment "ns9/svc9:dns" : goto ${SERVICE}`,
    '}',
    `add element ${T} cluster-ips { 172.30.9.1, 172.30.9.2 }`,
  ),
  ok(
    'an element added again with the same verdict',
    `add element ${T} service-ips { 172.30.9.1 . tcp . 80 : goto ${SERVICE} }`,
  ),
  ok('an element removed', `delete element ${T} service-ips { 172.30.9.2 . udp . 53 }`),
  ok(
    'a service port removed: its elements, then its chains, in one transaction',
    `delete element ${T} service-ips { 172.30.9.1 . tcp . 80 }`,
    `delete element ${T} cluster-ips { 172.30.9.1, 172.30.9.2 }`,
    `delete chain ${T} ${SERVICE}`,
    `delete chain ${T} ${ENDPOINT}`,
  ),
  ok(
    'objects that exist, added again',
    `add table ${T}`,
    `add chain ${T} services`,
    `add map ${T} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
  ),
  ok(
    'a chain and a set, added then deleted in one transaction',
    `add chain ${T} scratch`,
    `add set ${T} scratch-set { type ipv4_addr ; }`,
    `delete chain ${T} scratch`,
    `delete set ${T} scratch-set`,
  ),
  ok(
    'a chain flushed, then the chain its rule jumped to deleted',
    `add chain ${T} p`,
    `add chain ${T} q`,
    `add rule ${T} p jump q`,
    `flush chain ${T} p`,
    `delete chain ${T} q`,
    `delete chain ${T} p`,
  ),
  ok(
    'a chain with rules deleted (its rules go with it)',
    `add chain ${T} r1`,
    `add chain ${T} r2`,
    `add rule ${T} r1 jump r2`,
    `add rule ${T} r1 accept`,
    `delete chain ${T} r1`,
    `delete chain ${T} r2`,
  ),
  ok(
    'an affinity set with a new timeout',
    `add set ${T} aff { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }`,
    `add set ${T} aff { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }`,
  ),
  ok(
    'a base chain recreated with another priority (delete, then add)',
    `add table ip kpt-other`,
    `add chain ip kpt-other base { type filter hook input priority 0 ; }`,
    `delete chain ip kpt-other base`,
    `add chain ip kpt-other base { type filter hook input priority 10 ; }`,
  ),
  ok(
    'an IPv6 table',
    'add table ip6 kube-proxy',
    'add chain ip6 kube-proxy c',
    'add map ip6 kube-proxy m { type ipv6_addr . inet_proto . inet_service : verdict ; }',
    'add element ip6 kube-proxy m { fd00:0:0::0001 . tcp . 443 : goto c, 2001:db8::1 . udp . 53 : drop }',
    'add rule ip6 kube-proxy c ip6 saddr != { fd00::/64, fd01::1 } meta l4proto tcp dnat to [fd00::2]:80',
  ),
  ok(
    'the IPv6 table as the mode writes it: endpoint maps, affinity, hairpin, dnat ip6',
    `add table ${T6}`,
    `add map ${T6} eps { typeof numgen random mod 1 : ip6 daddr ; }`,
    `add map ${T6} pairs { typeof numgen random mod 1 : ip6 daddr . tcp dport ; }`,
    `add set ${T6} aff { type ipv6_addr ; flags dynamic,timeout ; timeout 600s ; }`,
    `add set ${T6} hairpin { type ipv6_addr . ipv6_addr ; }`,
    `add chain ${T6} nat { type nat hook prerouting priority -100 ; }`,
    `add chain ${T6} post { type nat hook postrouting priority 100 ; }`,
    `add chain ${T6} pick`,
    `add element ${T6} eps { 0 : fd00:10:180::1, 1 : fd00:10:180::2 }`,
    `add element ${T6} pairs { 0 : fd00:10:180::1 . 80 }`,
    `add element ${T6} hairpin { fd00:10:180::1 . fd00:10:180::1 }`,
    `add rule ${T6} nat jump pick`,
    `add rule ${T6} pick ip6 daddr fd00:172:30::41 tcp dport 80 dnat ip6 to numgen random mod 2 offset 0 map @eps : 80`,
    `add rule ${T6} pick meta l4proto tcp dnat ip6 to numgen random mod 1 offset 0 map @pairs`,
    `add rule ${T6} pick update @aff { ip6 saddr }`,
    `add rule ${T6} post ct status dnat ip6 saddr . ip6 daddr @hairpin masquerade fully-random`,
    `add rule ${T6} post fib daddr type local ip6 daddr != ::1 return`,
  ),
  ok(
    // Why the mode writes `[fd00::1]:80`: without brackets, the port is read as the address's last group.
    'an IPv6 dnat target without brackets: an address (fd00::1:80), no port',
    `add chain ${T6} dn`,
    `add rule ${T6} dn meta l4proto tcp dnat to fd00::1:80`,
    `delete chain ${T6} dn`,
  ),
  { ...ok('a check commits nothing', 'add table ip kpt-checked', 'add chain ip kpt-checked c'), check: true },
  ok(
    "names as nft's scanner reads them",
    `add chain ${T} _x`,
    `add chain ${T} .y`,
    `add chain ${T} a/b.c-d_e`,
    `delete chain ${T} _x`,
    `delete chain ${T} .y`,
    `delete chain ${T} a/b.c-d_e`,
  ),
  ok(
    'an endpoint map: a chain picking from it, then one endpoint replaced and one added',
    `add map ${T} endpoints-tcp-9 { typeof numgen random mod 1 : ip daddr . tcp dport ; }`,
    `add chain ${T} pick`,
    `add rule ${T} pick meta l4proto tcp dnat ip to numgen random mod 2 offset 589824 map @endpoints-tcp-9`,
    `add element ${T} endpoints-tcp-9 {`,
    '\t589824 : 10.180.9.1 . 80,',
    '\t589825 : 10.180.9.2 . 80',
    '}',
  ),
  ok(
    'an endpoint map element replaced and the picking rule rewritten, in one transaction',
    `delete element ${T} endpoints-tcp-9 { 589825 }`,
    `add element ${T} endpoints-tcp-9 { 589825 : 10.180.9.3 . 8080, 589826 : 10.180.9.4 . 80 }`,
    `flush chain ${T} pick`,
    `add rule ${T} pick meta l4proto tcp dnat ip to numgen random mod 3 offset 589824 map @endpoints-tcp-9`,
  ),
  ok(
    'a map of endpoint addresses: a shared chain picking from it with the port in the rule, and without',
    `add map ${T} endpoint-ips-tcp-9 { typeof numgen random mod 1 : ip daddr ; }`,
    `add chain ${T} shared`,
    `add rule ${T} shared ip daddr 172.30.9.1 tcp dport 80 dnat ip to numgen random mod 2 offset 589824 map @endpoint-ips-tcp-9 : 8080 comment "ns/a:http"`,
    `add rule ${T} shared dnat ip to numgen random mod 1 offset 655360 map @endpoint-ips-tcp-9`,
    `add element ${T} endpoint-ips-tcp-9 { 589824 : 10.180.9.1, 589825 : 10.180.9.2, 655360 : 10.180.9.3 }`,
    `flush chain ${T} shared`,
    `delete chain ${T} shared`,
    `flush map ${T} endpoint-ips-tcp-9`,
    `delete map ${T} endpoint-ips-tcp-9`,
  ),
  ok(
    'an endpoint map declared again, then emptied and deleted with the chain that used it',
    `add map ${T} endpoints-tcp-9 { typeof numgen random mod 1 : ip daddr . tcp dport ; }`,
    `flush map ${T} endpoints-tcp-9`,
    `delete chain ${T} pick`,
    `delete map ${T} endpoints-tcp-9`,
  ),
  ok(
    'a hairpin pair set and the rule that reads it',
    `add set ${T} pairs { type ipv4_addr . ipv4_addr ; }`,
    `add element ${T} pairs { 10.180.9.1 . 10.180.9.1 }`,
    `add chain ${T} hp`,
    `add rule ${T} hp ct status dnat ip saddr . ip daddr @pairs jump mark-for-masquerade`,
    `delete chain ${T} hp`,
    `delete set ${T} pairs`,
  ),
  ok(
    'a table deleted in a script',
    'add table ip kpt-gone',
    'add chain ip kpt-gone c',
    'delete table ip kpt-gone',
  ),
];

/** Scripts nft refuses, over the table the partial steps left (each leaves it as it was). */
export const REFUSED_STEPS: readonly NftStep[] = [
  refused('a jump to a chain that does not exist', 2, `add chain ${T} j`, `add rule ${T} j jump nope`),
  refused(
    'a goto to a chain declared only later in the script',
    2,
    `add chain ${T} j`,
    `add rule ${T} j goto later`,
    `add chain ${T} later`,
  ),
  refused(
    'an anonymous vmap to a missing chain',
    2,
    `add chain ${T} j`,
    `add rule ${T} j numgen random mod 2 vmap { 0 : goto services , 1 : goto nope }`,
  ),
  refused('a jump to a base chain', 2, `add chain ${T} j`, `add rule ${T} j jump nat-output`),
  refused('an element into a missing map', 1, `add element ${T} nomap { 1.2.3.4 . tcp . 80 : drop }`),
  refused('an element of the wrong key shape', 1, `add element ${T} service-ips { 1.2.3.4 . tcp : drop }`),
  refused(
    'an element of the wrong shape in a multi-line list',
    3,
    `add element ${T} service-ips {`,
    '\t1.2.3.4 . tcp . 80 : drop,',
    '\t1.2.3.5 . tcp : drop,',
    '\t1.2.3.6 . tcp . 80 : drop',
    '}',
  ),
  refused(
    'a map element to a missing chain, in a multi-line list',
    3,
    `add element ${T} service-ips {`,
    '\t1.2.3.4 . tcp . 80 : drop,',
    '\t1.2.3.5 . tcp . 80 : goto nope',
    '}',
  ),
  refused('a map element without a verdict', 1, `add element ${T} service-ips { 1.2.3.4 . tcp . 80 }`),
  refused('an IPv6 address in an IPv4 set', 1, `add element ${T} cluster-ips { fd00::1 }`),
  refused('a prefix in a set without the interval flag', 1, `add element ${T} cluster-ips { 10.0.0.0/8 }`),
  refused('a port out of range', 1, `add element ${T} service-nodeports { tcp . 70000 : drop }`),
  refused(
    'an element that exists with another verdict',
    2,
    `add element ${T} service-nodeports { tcp . 31999 : drop }`,
    `add element ${T} service-nodeports { tcp . 31999 : accept }`,
  ),
  refused('a missing element deleted', 1, `delete element ${T} cluster-ips { 9.9.9.9 }`),
  refused('a chain in a missing table', 1, 'add chain ip nosuch c'),
  refused('a rule in a missing table', 1, 'add rule ip nosuch c accept'),
  refused('a rule in a missing chain', 1, `add rule ${T} nochain accept`),
  refused('a missing chain deleted', 1, `delete chain ${T} nochain`),
  refused('a missing chain flushed', 1, `flush chain ${T} nochain`),
  refused('a missing set flushed', 1, `flush set ${T} noset`),
  refused('a missing map deleted', 1, `delete map ${T} nomap`),
  refused('a missing table deleted', 1, 'delete table ip nosuch'),
  refused(
    'a chain a map element still goes to deleted',
    3,
    `add chain ${T} target`,
    `add element ${T} service-nodeports { tcp . 31998 : goto target }`,
    `delete chain ${T} target`,
  ),
  refused(
    'a chain a rule still jumps to deleted',
    4,
    `add chain ${T} from`,
    `add chain ${T} to`,
    `add rule ${T} from jump to`,
    `delete chain ${T} to`,
  ),
  refused('a set a rule still reads deleted', 1, `delete set ${T} cluster-ips`),
  refused('a map a rule still reads deleted', 1, `delete map ${T} service-ips`),
  refused('a vmap on a set', 2, `add chain ${T} j`, `add rule ${T} j ip daddr vmap @cluster-ips`),
  refused(
    'a vmap of another key type',
    2,
    `add chain ${T} j`,
    `add rule ${T} j ip daddr . th dport vmap @service-ips`,
  ),
  refused('a lookup in a missing set', 2, `add chain ${T} j`, `add rule ${T} j ip daddr @noset accept`),
  refused(
    'a base chain with another priority',
    1,
    `add chain ${T} nat-output { type nat hook output priority -90 ; }`,
  ),
  refused(
    'a base chain on another hook',
    1,
    `add chain ${T} nat-output { type nat hook prerouting priority -100 ; }`,
  ),
  refused(
    'a base chain of another type',
    1,
    `add chain ${T} filter-input { type nat hook input priority 0 ; }`,
  ),
  refused(
    'a regular chain made a base chain',
    1,
    `add chain ${T} services { type filter hook input priority 0 ; }`,
  ),
  refused(
    'a nat chain on the forward hook',
    1,
    `add chain ${T} nat-forward { type nat hook forward priority 0 ; }`,
  ),
  refused('a set declared with another type', 1, `add set ${T} cluster-ips { type ipv6_addr ; }`),
  refused('a set declared as a map', 1, `add map ${T} cluster-ips { type ipv4_addr : verdict ; }`),
  refused(
    'a set the packet path updates, declared without dynamic',
    4,
    `add set ${T} upd { type ipv4_addr ; flags timeout ; timeout 10s ; }`,
    `add chain ${T} u`,
    `add rule ${T} u update @upd { ip saddr }`,
    `add set ${T} upd { type ipv4_addr ; flags timeout ; timeout 10s ; }`,
  ),
  refused(
    'a dnat reached from a filter hook',
    3,
    `add chain ${T} dn`,
    `add rule ${T} dn meta l4proto tcp dnat to 10.0.0.1:80`,
    `add rule ${T} filter-input jump dn`,
  ),
  refused(
    'a dnat in a chain a filter hook reaches',
    3,
    `add chain ${T} dn`,
    `add rule ${T} filter-input jump dn`,
    `add rule ${T} dn meta l4proto tcp dnat to 10.0.0.1:80`,
  ),
  refused(
    'a masquerade reached from nat prerouting through a map',
    3,
    `add chain ${T} mq`,
    `add rule ${T} mq masquerade fully-random`,
    `add element ${T} service-ips { 1.2.3.4 . tcp . 80 : goto mq }`,
  ),
  refused(
    'a dnat to a port without a transport match',
    2,
    `add chain ${T} dn`,
    `add rule ${T} dn dnat to 10.0.0.1:80`,
  ),
  refused(
    'a comment longer than 128 characters',
    2,
    `add chain ${T} j`,
    `add rule ${T} j accept comment "${'x'.repeat(129)}"`,
  ),
  refused('a chain name longer than 255 bytes', 1, `add chain ${T} ${'c'.repeat(256)}`),
  refused('a chain name that starts with a digit', 1, `add chain ${T} 9abc`),
  refused('a chain name with a backslash', 1, `add chain ${T} a\\b`),
  refused('a set timeout without a unit', 1, `add set ${T} s { type ipv4_addr ; timeout 10 ; }`),
  refused(
    'a dnat through an endpoint map without a transport match',
    2,
    `add chain ${T} j`,
    `add rule ${T} j dnat ip to numgen random mod 2 offset 0 map @endpoints-tcp-0`,
  ),
  refused(
    'a port after a map of endpoint addresses without a transport match',
    3,
    `add map ${T} endpoint-ips-tcp-7 { typeof numgen random mod 1 : ip daddr ; }`,
    `add chain ${T} j`,
    `add rule ${T} j dnat ip to numgen random mod 2 offset 0 map @endpoint-ips-tcp-7 : 8080`,
  ),
  refused(
    'an input interface name longer than 16 bytes',
    2,
    `add chain ${T} j`,
    `add rule ${T} j iifname != "abcdefghijklmnopq" jump mark-for-masquerade`,
  ),
  refused(
    'an endpoint map element that exists with another endpoint',
    2,
    `add map ${T} endpoints-tcp-8 { typeof numgen random mod 1 : ip daddr . tcp dport ; }`,
    `add element ${T} endpoints-tcp-8 { 7 : 10.1.1.1 . 80, 7 : 10.1.1.2 . 80 }`,
  ),
  refused('an IPv4 address in an IPv6 set', 1, `add element ${T6} hairpin { 10.0.0.1 . 10.0.0.1 }`),
  refused(
    'an IPv6 address in an IPv6 map of IPv4 endpoints',
    1,
    `add element ${T} endpoint-ips-tcp-0 { 9 : fd00::1 }`,
  ),
  refused(
    'an ip selector in an ip6 table',
    2,
    `add chain ${T6} j`,
    `add rule ${T6} j ip daddr 10.0.0.1 accept`,
  ),
  refused(
    'an ip6 selector in an ip table',
    2,
    `add chain ${T} j`,
    `add rule ${T} j ip6 daddr fd00::1 accept`,
  ),
  refused(
    'an IPv4 dnat target in an ip6 table',
    2,
    `add chain ${T6} dn`,
    `add rule ${T6} dn meta l4proto tcp dnat to 10.0.0.1:80`,
  ),
  refused(
    'dnat ip through a map of IPv6 endpoints',
    2,
    `add chain ${T6} dn`,
    `add rule ${T6} dn meta l4proto tcp dnat ip to numgen random mod 2 offset 0 map @eps : 80`,
  ),
  refused('an unknown command word', 2, `add table ${T}`, `bogus chain ${T} x`),
  refused('an unknown expression in a rule', 2, `add chain ${T} j`, `add rule ${T} j frobnicate 3 accept`),
  refused('an unbalanced brace', 2, `add element ${T} cluster-ips { 1.2.3.4`),
];
