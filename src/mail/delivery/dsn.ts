// Delivery status notifications (RFC 3464): a multipart/report with a
// human-readable part, the machine-readable message/delivery-status, and the
// original message's headers (text/rfc822-headers: never the whole body, so a
// bounce of a large message stays small).
import { randomUUID } from 'node:crypto';

export interface FailedRecipient {
  address: string;
  /** The reply that made it fail, or why we gave up. */
  reply: string;
  remoteHost?: string;
  /** `failed` for a bounce; `delayed` would be a warning (not sent yet). */
  action: 'failed';
}

export interface DsnInput {
  reportingMta: string;
  mid: number;
  originalSender: string;
  arrivalDate: Date;
  originalHeaders: string;
  recipients: FailedRecipient[];
  now?: Date;
}

/** The RFC 3463 status: the enhanced code from the reply when there is one, else derived from the basic code. */
export function statusOf(reply: string): string {
  const enhanced = /^(?:\d{3}[ -])?([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply);
  if (enhanced?.[1]) return enhanced[1];
  const basic = /^([245])\d{2}\b/.exec(reply);
  return basic ? `${basic[1]}.0.0` : '4.4.7'; // no reply at all: we gave up waiting (delivery time expired)
}

export function buildDsn(input: DsnInput): string {
  const now = input.now ?? new Date();
  const boundary = `=_dsn_${randomUUID()}`;
  const list = input.recipients.map((r) => `  <${r.address}>: ${r.reply}`).join('\r\n');
  const perRecipient = input.recipients
    .map((r) =>
      [
        `Final-Recipient: rfc822; ${r.address}`,
        `Action: ${r.action}`,
        `Status: ${statusOf(r.reply)}`,
        ...(r.remoteHost ? [`Remote-MTA: dns; ${r.remoteHost}`] : []),
        ...(/^\d{3}/.test(r.reply) ? [`Diagnostic-Code: smtp; ${r.reply}`] : [`Diagnostic-Code: x-local; ${r.reply}`]),
        `Last-Attempt-Date: ${now.toUTCString()}`,
      ].join('\r\n'),
    )
    .join('\r\n\r\n');
  return [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    `To: <${input.originalSender}>`,
    'Subject: Undelivered Mail Returned to Sender',
    `Date: ${now.toUTCString()}`,
    `Message-ID: <dsn.${input.mid}.${now.getTime()}@${input.reportingMta}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    `This is the mail system at ${input.reportingMta}.`,
    '',
    `Your message (MID ${input.mid}) could not be delivered to one or more recipients:`,
    '',
    list,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${input.reportingMta}`,
    `X-Appliance-Queue-ID: ${input.mid}`,
    `Arrival-Date: ${input.arrivalDate.toUTCString()}`,
    '',
    perRecipient,
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    input.originalHeaders.replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, ''),
    '',
    `--${boundary}--`,
    '',
  ].join('\r\n');
}
