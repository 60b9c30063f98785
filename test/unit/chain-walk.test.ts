// The chain walk behind the distrust check and the depth limit, on chains
// shaped as an attacker would shape them: endless, cut, looping, linked to a
// look-alike issuer. Each must end in a refusal, never in a short "complete" chain.
import { join } from 'node:path';
import type { DetailedPeerCertificate } from 'node:tls';
import t from 'tap';
import { maxIntermediates, walkChain } from '../../src/mail/client-certificate.js';
import { tempState } from '../helpers/state.js';
import { TestCa } from '../helpers/test-ca.js';

const dir = tempState(t, 'chain-walk-');
const root = new TestCa({ dir: join(dir, 'root'), commonName: 'Walk Root' });
const ladder: TestCa[] = [];
for (let i = 1; i <= 11; i++) ladder.push((ladder.at(-1) ?? root).intermediate({ commonName: `Walk Intermediate ${i}` }));
const lookAlike = new TestCa({ dir: join(dir, 'look-alike'), commonName: 'Walk Intermediate 2' });

const der = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');

/** Node's shape: each certificate links to its issuer; a self-signed root links to itself. */
function linked(pems: string[], selfLinkLast = true): DetailedPeerCertificate {
  const nodes = pems.map((pem) => ({ raw: der(pem) }) as DetailedPeerCertificate);
  nodes.forEach((node, i) => {
    const next = nodes[i + 1];
    if (next) node.issuerCertificate = next;
  });
  if (selfLinkLast) nodes.at(-1)!.issuerCertificate = nodes.at(-1)!;
  return nodes[0]!;
}

function leafUnder(k: number) {
  const ca = ladder[k - 1]!;
  return {
    leaf: ca.issue({ commonName: `LEAF.${k}` }).pem,
    cas: ladder
      .slice(0, k)
      .reverse()
      .map((c) => c.pem),
  };
}

t.test('up to the limit the chain is complete; one more intermediate is refused', async (t) => {
  t.equal(maxIntermediates, 8);
  for (const k of [1, 7, 8]) {
    const { leaf, cas } = leafUnder(k);
    const walk = walkChain(linked([leaf, ...cas, root.pem]));
    t.equal(walk.status, 'complete', `${k} intermediates`);
    t.equal(walk.chain.length, k + 2);
  }
  const { leaf, cas } = leafUnder(9);
  const walk = walkChain(linked([leaf, ...cas, root.pem]));
  t.match(walk, { status: 'broken', reason: /more than 8 intermediate CAs/ });
});

t.test('an endless chain is read no further than the limit', async (t) => {
  const { leaf } = leafUnder(11);
  let reads = 0;
  const cas = ladder.slice().reverse();
  const node = (i: number): DetailedPeerCertificate =>
    ({
      raw: der(i === 0 ? leaf : cas[(i - 1) % cas.length]!.pem),
      get issuerCertificate() {
        reads++;
        return node(i + 1);
      },
    }) as unknown as DetailedPeerCertificate;
  const walk = walkChain(node(0));
  t.match(walk, { status: 'broken', reason: /more than 8 intermediate CAs/ });
  t.ok(reads <= maxIntermediates + 2, `the walk asked for ${reads} issuers`);
});

t.test('a cut chain, a skipped link, a look-alike issuer, a repeat: refused', async (t) => {
  const { leaf, cas } = leafUnder(4);
  t.match(walkChain(linked([leaf, ...cas], false)), { status: 'broken', reason: /incomplete: the issuer of CN=Walk Intermediate 1 is missing/ }, 'the root is missing');
  t.match(walkChain(linked([leaf, cas[0]!, cas[2]!, cas[3]!, root.pem])), { status: 'broken', reason: /CN=Walk Intermediate 4 is not signed by CN=Walk Intermediate 2/ });
  const underTwo = ladder[1]!.issue({ commonName: 'LEAF.UNDER.2' }).pem;
  t.match(walkChain(linked([underTwo, lookAlike.pem])), { status: 'broken', reason: /not signed by CN=Walk Intermediate 2/ }, 'same name, other key');
  t.match(walkChain(linked([leaf, cas[0]!, cas[0]!])), { status: 'broken', reason: /self-issued but not a self-signed root|loops/ }, 'an intermediate linked to itself');
  t.match(walkChain(linked([root.pem])), { status: 'broken', reason: /self-signed/ }, 'a self-signed leaf');
  t.match(walkChain({ raw: Buffer.from('not a certificate') } as DetailedPeerCertificate), { status: 'broken', reason: /cannot be parsed/ });
});
