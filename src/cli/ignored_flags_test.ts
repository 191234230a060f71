import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { defaultConfiguration } from './config/defaults.ts';
import { FlagError } from './flags.ts';
import {
  addIgnoredFlags,
  IGNORED_KUBE_PROXY_FLAGS,
  ignoredFlagWarnings,
  KUBE_PROXY_FIELD_FLAGS,
} from './ignored_flags.ts';

function parse(args: string[]): Record<string, unknown> {
  const command = addIgnoredFlags(new Command('run').exitOverride());
  command.parse(args, { from: 'user' });
  return command.opts();
}

describe("kube-proxy's flags kproxy accepts and ignores", () => {
  it('parse as kube-proxy spells them, set their field and warn once each (the node-tuning ones: no warning)', () => {
    const config = defaultConfiguration();
    const flags = parse([
      '--conntrack-max-per-core=0',
      '--conntrack-tcp-timeout-established',
      '2h0m0s',
      '--ipvs-strict-arp',
      '--iptables-localhost-nodeports=false',
      '--ipvs-exclude-cidrs',
      '198.18.0.0/24,198.19.0.0/24',
      '--feature-gates',
      'A=true,B=false',
      '--kube-api-qps',
      '7.5',
      '-v=4',
      '--oom-score-adj',
      '-999',
    ]);
    assert.deepEqual(ignoredFlagWarnings(flags, config), [
      '--feature-gates: not supported yet: ignored',
      '--kube-api-qps: not supported yet: ignored',
      '--iptables-localhost-nodeports: not supported yet: ignored',
      '--v: not supported yet: ignored',
    ]);
    assert.equal(config.conntrack.maxPerCore, 0);
    assert.equal(config.conntrack.tcpEstablishedTimeout, 7_200_000);
    assert.equal(config.ipvs.strictARP, true);
    assert.equal(config.iptables.localhostNodePorts, false);
    assert.deepEqual(config.ipvs.excludeCIDRs, ['198.18.0.0/24', '198.19.0.0/24']);
    assert.deepEqual(config.featureGates, { A: true, B: false });
    assert.equal(config.clientConnection.qps, 7.5);
    assert.equal(config.logging.verbosity, 4);
    assert.equal(config.oomScoreAdj, -999);
  });

  it('with --config, say that the file wins', () => {
    assert.deepEqual(ignoredFlagWarnings(parse(['--conntrack-min', '0', '--healthz-port', '0']), undefined), [
      '--conntrack-min is ignored: --config is given, and its conntrack.min wins (as kube-proxy)',
      '--healthz-port is ignored: --config is given (as kube-proxy)',
    ]);
  });

  it('the node-tuning and ipvs flags are supported: none of them is in the ignored list, each sets its field', () => {
    const tuning = KUBE_PROXY_FIELD_FLAGS.filter((f) => f.supported).map((f) => f.name);
    assert.deepEqual(tuning, [
      'ipvs-exclude-cidrs',
      'ipvs-strict-arp',
      'ipvs-tcp-timeout',
      'ipvs-tcpfin-timeout',
      'ipvs-udp-timeout',
      'oom-score-adj',
      'conntrack-max-per-core',
      'conntrack-min',
      'conntrack-tcp-timeout-established',
      'conntrack-tcp-timeout-close-wait',
      'conntrack-tcp-be-liberal',
      'conntrack-udp-timeout',
      'conntrack-udp-timeout-stream',
    ]);
    assert.ok(!IGNORED_KUBE_PROXY_FLAGS.some((f) => tuning.includes(f.name)));
    const config = defaultConfiguration();
    const flags = parse([
      '--conntrack-tcp-be-liberal',
      '--conntrack-udp-timeout',
      '10s',
      '--conntrack-udp-timeout-stream=1m0s',
      '--conntrack-tcp-timeout-close-wait',
      '0s',
      '--conntrack-min',
      '1',
    ]);
    assert.deepEqual(ignoredFlagWarnings(flags, config), []);
    assert.deepEqual(config.conntrack, {
      maxPerCore: 32768,
      min: 1,
      tcpEstablishedTimeout: 86_400_000,
      tcpCloseWaitTimeout: 0,
      tcpBeLiberal: true,
      udpTimeout: 10_000,
      udpStreamTimeout: 60_000,
    });
  });

  it('refuse a value of the wrong type, naming the flag', () => {
    const cases: [string[], RegExp][] = [
      [['--conntrack-min', 'abc'], /^Invalid --conntrack-min: not an integer, got "abc"$/],
      [['--ipvs-tcp-timeout', '30'], /^Invalid --ipvs-tcp-timeout: not a duration/],
      [['--ipvs-strict-arp=yes'], /^Invalid --ipvs-strict-arp: not true or false, got "yes"$/],
      [['--feature-gates', 'A'], /^Invalid --feature-gates: not key=true\|false pairs/],
      [
        ['--ipvs-exclude-cidrs', '198.18.0.0/24,nope'],
        /^Invalid --ipvs-exclude-cidrs: not a CIDR, got "nope"$/,
      ],
      [
        ['--ipvs-exclude-cidrs', '198.18.0.1'],
        /^Invalid --ipvs-exclude-cidrs: not a CIDR, got "198.18.0.1"$/,
      ],
      [
        ['--ipvs-udp-timeout=-5s'],
        /^Invalid --ipvs-udp-timeout: must be greater than or equal to 0, got -5s$/,
      ],
    ];
    for (const [args, message] of cases) {
      assert.throws(
        () => ignoredFlagWarnings(parse(args), defaultConfiguration()),
        (e: unknown) => e instanceof FlagError && message.test(e.message),
        args.join(' '),
      );
    }
  });

  it('set the ipvs fields, with no warning: the ipvs mode applies them', () => {
    const config = defaultConfiguration();
    const flags = parse([
      '--ipvs-strict-arp=true',
      '--ipvs-exclude-cidrs=198.18.200.0/24,2001:2::/64',
      '--ipvs-tcp-timeout=2h0m0s',
      '--ipvs-tcpfin-timeout',
      '30s',
      '--ipvs-udp-timeout=0s',
    ]);
    assert.deepEqual(ignoredFlagWarnings(flags, config), []);
    assert.deepEqual(config.ipvs, {
      ...defaultConfiguration().ipvs,
      strictARP: true,
      excludeCIDRs: ['198.18.200.0/24', '2001:2::/64'],
      tcpTimeout: 7_200_000,
      tcpFinTimeout: 30_000,
      udpTimeout: 0,
    });
    assert.equal(
      IGNORED_KUBE_PROXY_FLAGS.some((f) => f.name.startsWith('ipvs-')),
      false,
    );
  });

  it('set only fields of the configuration', () => {
    const config = defaultConfiguration() as unknown as Record<string, unknown>;
    for (const f of KUBE_PROXY_FIELD_FLAGS) {
      if (f.field === undefined) continue;
      let value: unknown = config;
      for (const key of f.field.split('.')) {
        assert.ok(value !== null && typeof value === 'object' && key in value, `${f.name}: ${f.field}`);
        value = (value as Record<string, unknown>)[key];
      }
    }
  });
});
