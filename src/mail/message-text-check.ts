// The message text between DATA's 354 and the final dot, judged as it streams
// to the spool (dot-stuffing already undone by smtp-server).
//
// Decisions (RFC 5322 2.1.1 and 2.3; Postfix where the RFC leaves a choice):
// - Bare LF, bare CR: the policy's `bareNewline`. `reject` refuses the message
//   with 550 5.5.2; `normalize` stores CRLF in their place, so a bare-LF message
//   is never queued as it came (and the delivery side never relays the sequences
//   that SMTP smuggling relies on: `\n.\n`, `\r.\r`, `\n.\r\n`).
// - A line over 998 octets: refused with 550 5.6.0. Postfix instead breaks lines at
//   `line_length_limit` (2048) and folds again at 998 when it relays; both change the
//   message silently, which breaks the sender's DKIM body hash and S/MIME signatures
//   and can split a base64 or quoted-printable line mid-word. A gateway that signs
//   and forwards what it was given refuses instead: the sender's MTA gets a permanent,
//   precise reply and a conforming MTA never sends such a line (RFC 5322: MUST NOT).
// - NUL: refused with 550 5.6.0 (RFC 5322 forbids it in a message). Removing it, as
//   some MTAs do, lets text after it reach content filters that stop at NUL (C strings)
//   differently from the mailbox that shows it: the class of bug behind header
//   smuggling through NUL. Refusing leaves no difference to exploit.
// Once refused, the rest of the message is read and dropped: the reply comes after
// the final dot and nothing is queued.
import { Transform } from 'node:stream';
import type { BareNewlinePolicy } from './protocol-strictness.js';
import { replies as strictReplies } from './protocol-strictness.js';
import { type SmtpReplyError, smtpError } from './smtp-replies.js';

export const MAX_TEXT_LINE = 998;

export interface MessageRefusal extends SmtpReplyError {
  /** For the mail log: why the message was refused. */
  refusal: string;
}

function refusal(error: SmtpReplyError, reason: string): MessageRefusal {
  return Object.assign(error, { refusal: reason });
}

export function isMessageRefusal(err: unknown): err is MessageRefusal {
  return err instanceof Error && typeof (err as Partial<MessageRefusal>).refusal === 'string';
}

const CR = Buffer.from('\r');
const LF = Buffer.from('\n');
const EMPTY = Buffer.alloc(0);

/** Reads the text chunk by chunk; `push` returns what to store (normalized), `violation` is set once the message is refused. */
export class MessageTextScanner {
  violation: MessageRefusal | undefined;
  private pendingCr = false;
  private carriedLineLength = 0;
  private line = 1;

  constructor(private readonly policy: BareNewlinePolicy) {}

  push(chunk: Buffer): Buffer {
    if (this.violation || chunk.length === 0) return this.violation ? EMPTY : chunk;
    if (chunk.includes(0)) return this.fail(refusal(smtpError(550, '5.6.0', 'Message refused: it contains a NUL octet, which RFC 5322 does not allow'), 'NUL octet'));
    const reject = this.policy === 'reject';
    const out: Buffer[] = [];
    let copied = 0;
    let lineStart = -this.carriedLineLength;
    let i = 0;
    if (this.pendingCr) {
      // The previous chunk ended in CR (already passed on).
      this.pendingCr = false;
      this.line++;
      if (chunk[0] === 0x0a) i = 1;
      else if (reject) return this.fail(refusal(strictReplies.bareCr(), `bare CR on line ${this.line - 1}`));
      else out.push(LF);
      lineStart = i;
    }
    // Native searches for the next CR and LF (kept until passed): plain text costs two scans.
    let nextCr = chunk.indexOf(0x0d, i);
    let nextLf = chunk.indexOf(0x0a, i);
    while (i < chunk.length) {
      if (nextCr !== -1 && nextCr < i) nextCr = chunk.indexOf(0x0d, i);
      if (nextLf !== -1 && nextLf < i) nextLf = chunk.indexOf(0x0a, i);
      const at = nextLf === -1 ? nextCr : nextCr === -1 ? nextLf : Math.min(nextCr, nextLf);
      if (at === -1) break;
      if (at - lineStart > MAX_TEXT_LINE) return this.fail(this.tooLong());
      if (chunk[at] === 0x0d) {
        if (at + 1 === chunk.length) {
          this.pendingCr = true;
          i = chunk.length;
          break;
        }
        if (chunk[at + 1] === 0x0a) {
          i = lineStart = at + 2;
          this.line++;
          continue;
        }
        if (reject) return this.fail(refusal(strictReplies.bareCr(), `bare CR on line ${this.line}`));
        out.push(chunk.subarray(copied, at + 1), LF);
        copied = i = lineStart = at + 1;
        this.line++;
        continue;
      }
      if (reject) return this.fail(refusal(strictReplies.bareLf(), `bare LF on line ${this.line}`));
      out.push(chunk.subarray(copied, at), CR);
      copied = at;
      i = lineStart = at + 1;
      this.line++;
    }
    if (this.pendingCr) this.carriedLineLength = 0;
    else {
      this.carriedLineLength = chunk.length - lineStart;
      if (this.carriedLineLength > MAX_TEXT_LINE) return this.fail(this.tooLong());
    }
    if (out.length === 0) return chunk;
    out.push(chunk.subarray(copied));
    return Buffer.concat(out);
  }

  /** The end of the text (a CR left at the very end is a bare CR). */
  end(): Buffer {
    if (this.violation || !this.pendingCr) return EMPTY;
    this.pendingCr = false;
    if (this.policy === 'reject') return this.fail(refusal(strictReplies.bareCr(), `bare CR on line ${this.line}`));
    return LF;
  }

  private tooLong(): MessageRefusal {
    return refusal(
      smtpError(550, '5.6.0', `Message refused: line ${this.line} is longer than ${MAX_TEXT_LINE} octets (RFC 5322 2.1.1); wrap or encode long lines`),
      `line ${this.line} longer than ${MAX_TEXT_LINE} octets`,
    );
  }

  private fail(violation: MessageRefusal): Buffer {
    this.violation = violation;
    return EMPTY;
  }
}

/** The whole text at once: the verdict, and what would be stored. */
export function checkMessageText(chunks: Buffer[], policy: BareNewlinePolicy): { violation?: MessageRefusal; stored: Buffer } {
  const scanner = new MessageTextScanner(policy);
  const stored = Buffer.concat([...chunks.map((c) => scanner.push(c)), scanner.end()]);
  return scanner.violation ? { violation: scanner.violation, stored: EMPTY } : { stored };
}

/** A stream stage: passes the (normalized) text on, and ends in the refusal, after all input was read, when there is one. */
export function messageTextChecker(policy: BareNewlinePolicy): Transform {
  const scanner = new MessageTextScanner(policy);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const out = scanner.push(chunk);
      callback(null, out.length ? out : undefined);
    },
    flush(callback) {
      const tail = scanner.end();
      if (scanner.violation) return callback(scanner.violation);
      callback(null, tail.length ? tail : undefined);
    },
  });
}
