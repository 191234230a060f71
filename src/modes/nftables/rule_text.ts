/**
 * nft syntax for the objects of ruleset.ts: a rule's text after `add rule ip kube-proxy CHAIN`, an
 * element's text inside `{ ... }`, a verdict. Shared by render.ts (the script) and trace.ts (the path it
 * reports), so the path quotes the script word for word.
 *
 * Every name and comment that reaches this file was made safe by names.ts and every address was printed
 * from a parsed number, so nothing here needs quoting beyond the comment's double quotes.
 *
 * @module
 */
import { addressAndPort } from './addresses.ts';
import type {
  NftAction,
  NftAddressOperand,
  NftElement,
  NftFamily,
  NftMatch,
  NftRule,
  NftStatement,
  NftVerdict,
} from './ruleset.ts';

/**
 * A verdict as nft writes it.
 *
 * @param v the verdict
 * @returns e.g. `goto service-ULMVA6XW-ns1/svc1/tcp/p80`, `drop`
 * @example verdictText({ kind: 'jump', chain: 'services' }) // 'jump services'
 */
export function verdictText(v: NftVerdict): string {
  switch (v.kind) {
    case 'jump':
    case 'goto':
      return `${v.kind} ${v.chain}`;
    case 'return':
    case 'drop':
    case 'reject':
      return v.kind;
    default: {
      const never: never = v;
      return never;
    }
  }
}

function operandText(o: NftAddressOperand): string {
  switch (o.kind) {
    case 'prefixes':
      return o.prefixes.length === 1 ? o.prefixes[0]! : `{ ${o.prefixes.join(', ')} }`;
    case 'set':
      return `@${o.set}`;
    default: {
      const never: never = o;
      return never;
    }
  }
}

function matchText(m: NftMatch, family: NftFamily): string {
  switch (m.kind) {
    case 'ct-state-new':
      return 'ct state new';
    case 'address':
      return `${family} ${m.field} ${m.negated ? '!= ' : ''}${operandText(m.operand)}`;
    case 'input-interface':
      return `iifname ${m.negated ? '!= ' : ''}"${m.name}${m.wildcard ? '*' : ''}"`;
    case 'fib-local':
      return `fib ${m.field} type local`;
    case 'mark-unset':
      return `mark and ${m.mark} == 0`;
    case 'ct-status-dnat':
      return 'ct status dnat';
    case 'address-pair':
      return `${family} saddr . ${family} daddr @${m.set}`;
    case 'destination-port':
      return `${m.protocol} dport ${m.port}`;
    default: {
      const never: never = m;
      return never;
    }
  }
}

function statementText(s: NftStatement, family: NftFamily): string {
  switch (s.kind) {
    case 'mark-or':
      return `mark set mark or ${s.mark}`;
    case 'mark-xor':
      return `mark set mark xor ${s.mark}`;
    case 'update-source':
      return `update @${s.set} { ${family} saddr }`;
    default: {
      const never: never = s;
      return never;
    }
  }
}

/** `transported`: an earlier match of the rule (`tcp dport 80`) already requires the transport protocol. */
function actionText(a: NftAction, family: NftFamily, transported: boolean): string {
  switch (a.kind) {
    case 'jump':
    case 'goto':
    case 'return':
    case 'drop':
    case 'reject':
      return verdictText(a);
    case 'vmap':
      return a.key === 'destination'
        ? `${family} daddr . meta l4proto . th dport vmap @${a.map}`
        : `meta l4proto . th dport vmap @${a.map}`;
    case 'numgen':
      return `numgen random mod ${a.chains.length} vmap { ${a.chains.map((c, i) => `${i} : goto ${c}`).join(' , ')} }`;
    case 'dnat':
      return `meta l4proto ${a.protocol} dnat to ${addressAndPort(a.address, a.port)}`;
    case 'dnat-map':
      // As nft lists it back (`dnat ip to`), so that a listing and the script read alike.
      // `meta l4proto` gives the port mapping its protocol; after `tcp dport` it would test it twice
      // (two kernel expressions of 10 000 rules: ~10 % of a full sync's nft time at 10k services).
      return `${transported ? '' : `meta l4proto ${a.protocol} `}dnat ${family} to numgen random mod ${a.count} offset ${a.offset} map @${a.map}${a.port === undefined ? '' : ` : ${a.port}`}`;
    case 'masquerade':
      return 'masquerade fully-random';
    default: {
      const never: never = a;
      return never;
    }
  }
}

/**
 * A rule as nft writes it (what follows `add rule FAMILY TABLE CHAIN`).
 *
 * @param r the rule
 * @param family the table's family (`ip saddr` or `ip6 saddr`)
 * @returns e.g. `ip daddr 172.30.0.41 ip saddr != 10.0.0.0/8 jump mark-for-masquerade`
 * @example ruleText(rule({ matches: [{ kind: 'ct-state-new' }], action: { kind: 'jump', chain: 'firewall-check' } }), 'ip') // 'ct state new jump firewall-check'
 */
export function ruleText(r: NftRule, family: NftFamily): string {
  const words = [
    ...r.matches.map((m) => matchText(m, family)),
    ...r.statements.map((s) => statementText(s, family)),
  ];
  if (r.action !== undefined) {
    const transported = r.matches.some((m) => m.kind === 'destination-port');
    words.push(actionText(r.action, family, transported));
  }
  if (r.comment !== undefined) words.push(`comment "${r.comment}"`);
  return words.join(' ');
}

/**
 * An element as nft writes it inside `{ }`: the key parts joined by ` . `, the comment, the verdict or
 * the endpoint.
 *
 * @param e the element
 * @returns e.g. `172.30.0.46 . tcp . 80 comment "ns6/svc6:p80" : goto reject-chain`, `65536 : 10.180.0.1 . 80`
 * @example elementText({ key: ['172.30.0.41'], verdict: undefined, endpoint: undefined, comment: undefined }) // '172.30.0.41'
 */
export function elementText(e: NftElement): string {
  const comment = e.comment === undefined ? '' : ` comment "${e.comment}"`;
  const value =
    e.verdict !== undefined
      ? ` : ${verdictText(e.verdict)}`
      : e.endpoint !== undefined
        ? e.endpoint.port === undefined
          ? ` : ${e.endpoint.address}`
          : ` : ${e.endpoint.address} . ${e.endpoint.port}`
        : '';
  return `${e.key.join(' . ')}${comment}${value}`;
}
