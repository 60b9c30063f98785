// The message as it leaves: our headers on top of the spooled one, then the
// spooled header block and body streamed from the queue file.
// - Authentication-Results (RFC 8601) says how the sender authenticated to us:
//   `auth=pass smtp.auth=<user>` for SMTP AUTH, `auth=pass (TLS client
//   certificate) smtp.auth="<subject>"` for a certificate, `auth=none` otherwise.
//   Results that claim to come from our own authserv-id are forged and dropped (RFC 8601 5);
//   the authserv-id is parsed by the grammar (authserv-id.ts), and a field without one is dropped too.
//   Mail the appliance made itself (bounces, alerts) had no sender to authenticate and gets none.
// - DKIM-Signature, for authenticated senders on a relaying listener whose
//   mail flow policy signs, with the profile of the From domain.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ApplianceConfig } from '../../os/config/schema.js';
import { HostAccessTable } from '../host-access.js';
import { resolvePolicy, signsWithDkim } from '../mail-flow-policy.js';
import type { Envelope } from '../spool.js';
import { claimsAuthservId } from './authserv-id.js';
import { dkimSignature, type HsmSign, hashBody, modesOf, profileFor } from './dkim-signer.js';
import { parseHeaderBlock } from './headers.js';
import type { QueuedMessage } from './queue-store.js';

// What the gateway decided at reception (envelope.reception) is what counts. Only a
// message queued by an earlier version, which did not record it, is judged from
// the configuration of today.
export function authservId(envelope: Envelope, config: ApplianceConfig): string {
  return envelope.reception?.authservId ?? config.listeners.find((l) => l.name === envelope.listener)?.hostname ?? config.system.hostname;
}

const quoted = (value: string) => (/^[A-Za-z0-9._@+-]+$/.test(value) ? value : `"${value.replace(/[\\"]/g, '\\$&')}"`);

export function authenticationResults(envelope: Envelope, config: ApplianceConfig): string {
  const id = authservId(envelope, config);
  const auth = envelope.authenticatedAs;
  if (!auth) return `Authentication-Results: ${id};\r\n\tauth=none`;
  const comment = auth.method === 'certificate' ? ' (TLS client certificate)' : '';
  return `Authentication-Results: ${id};\r\n\tauth=pass${comment} smtp.auth=${quoted(auth.identity.replace(/[\r\n]/g, ' '))}`;
}

export function wantsDkim(envelope: Envelope, config: ApplianceConfig): boolean {
  if (envelope.reception) return envelope.reception.dkimSigning;
  const listener = config.listeners.find((l) => l.name === envelope.listener);
  if (!listener) return false;
  // Queued before reception was recorded: match the client address again (IP entries; names need DNS).
  const match = new HostAccessTable(listener).match(envelope.clientAddress);
  return signsWithDkim(resolvePolicy(listener, match?.policy ?? listener.defaultPolicy), listener.type, envelope.authenticatedAs !== undefined);
}

export interface Outgoing {
  /** Our headers, CRLF-terminated. */
  added: string;
  /** The profile name when a DKIM signature was added. */
  signedWith?: string;
  stream: () => Readable;
}

export async function prepareOutgoing(path: string, queued: QueuedMessage, config: ApplianceConfig, sign: HsmSign | undefined): Promise<Outgoing> {
  const id = authservId(queued.envelope, config).toLowerCase();
  const original = parseHeaderBlock(queued.headerBlock);
  const forged = original.filter((f) => f.name.toLowerCase() === 'authentication-results' && claimsAuthservId(f.value, id));
  const kept =
    forged.length === 0
      ? queued.headerBlock
      : `${original
          .filter((f) => !forged.includes(f))
          .map((f) => `${f.raw}\r\n`)
          .join('')}\r\n`;
  let added = queued.envelope.generated ? '' : `${authenticationResults(queued.envelope, config)}\r\n`;
  let signedWith: string | undefined;
  if (sign && wantsDkim(queued.envelope, config)) {
    const fields = parseHeaderBlock(added + kept);
    const profile = profileFor(fields, config.dkim.profiles);
    if (profile) {
      const bodyHash = await hashBody(path, queued.bodyStart, modesOf(profile).body);
      added = `${await dkimSignature(profile, fields, bodyHash, sign)}\r\n${added}`;
      signedWith = profile.name;
    }
  }
  const head = added + kept;
  return {
    added,
    ...(signedWith ? { signedWith } : {}),
    stream: () =>
      Readable.from(
        (async function* () {
          yield Buffer.from(head, 'latin1');
          yield* createReadStream(path, { start: queued.bodyStart, highWaterMark: 64 * 1024 });
        })(),
      ),
  };
}
