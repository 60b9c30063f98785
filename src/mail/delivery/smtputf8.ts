// Mail that needs SMTPUTF8 (RFC 6531) and a next hop that does not offer it.
// Decisions, after Postfix (smtputf8_enable, "SMTPUTF8 is required, but was not offered"):
// - A domain is never a reason: an internationalized domain goes out as its
//   A-label (xn--…, RFC 5890), which every server takes.
// - A non-ASCII local part cannot be downgraded: the message bounces with 5.6.7.
// - SMTPUTF8 on MAIL FROM with UTF-8 in the header block needs it too; with an
//   all-ASCII envelope and header block the flag is moot and the mail goes out.
import { domainToASCII } from 'node:url';

const nonAscii = /[^ -~]/; // printable ASCII only: smtp-server has already refused control characters in addresses

/** The address with its domain as an A-label; undefined when the local part is not ASCII (or the domain cannot be converted). */
export function asciiAddress(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  if (nonAscii.test(local)) return undefined;
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  if (!nonAscii.test(domain)) return address;
  const ascii = domainToASCII(domain);
  return ascii ? `${local}@${ascii}` : undefined;
}

export interface Utf8Facts {
  requested: boolean;
  mailFrom: string;
  rcptTo: string[];
  /** The spooled header block (latin1 text of the raw bytes). */
  headerBlock: string;
}

/** Why the message cannot go to a server without SMTPUTF8; undefined when it can (after asciiAddress on each address). */
export function smtpUtf8Need(facts: Utf8Facts): string | undefined {
  if (facts.mailFrom && asciiAddress(facts.mailFrom) === undefined) return `the sender <${facts.mailFrom}> has a non-ASCII local part`;
  const recipient = facts.rcptTo.find((r) => asciiAddress(r) === undefined);
  if (recipient) return `the recipient <${recipient}> has a non-ASCII local part`;
  if (facts.requested && /[\x80-\xff]/.test(facts.headerBlock)) return 'its header has UTF-8 text and the sender asked for SMTPUTF8';
  return undefined;
}

export const smtpUtf8Bounce = (host: string, why: string) => `5.6.7 SMTPUTF8 is required, but was not offered by host ${host}: ${why}`;
