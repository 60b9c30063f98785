// The one way the appliance fetches a URL (CRLs, upgrade bundles, later OCSP).
// Only http and https, for the URL and for every redirect: a server that answers
// `Location: file:///…` must not make the appliance read its own files. At most
// five redirects, never from https down to http (as apt does), no loops. Bounded
// in size (the limit is checked on Content-Length and again on every chunk, and
// reading stops as soon as it is passed) and in time (a connect timeout for each
// connection, TLS handshake included, and a total one). Messages say what went
// wrong and never quote the body: it may be anything a redirect pointed at.
//
// Two entry points: `downloadToFile` streams a body of any size to a temporary
// file (CRLs, bundles), `fetchSmall` returns a small body in memory and can POST
// one (OCSP: GET, or POST of a request with its content type).
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rootCertificates } from 'node:tls';

/** What went wrong, for a caller that words some cases its own way (an upgrade too large for the disk). */
export type FetchFailure = 'refused' | 'too-large' | 'timeout' | 'http' | 'network' | 'truncated';

export class FetchError extends Error {
  override name = 'FetchError';
  constructor(
    message: string,
    readonly kind: FetchFailure,
  ) {
    super(message);
  }
}

export const defaultMaxRedirects = 5;
/** fetchSmall is for small answers (OCSP responses are a few KB): a larger limit is a mistake of the caller. */
export const smallBodyCeiling = 1 << 20;
const followedStatuses = new Set([301, 302, 303, 307, 308]);
const userAgent = 'hsm-mail-gateway';

export interface FetchOptions {
  maxBytes: number;
  /** The whole fetch, redirects and body included. */
  timeoutMs: number;
  /** Each connection, DNS and TLS handshake included (default: half the total timeout, at most 15 s). */
  connectTimeoutMs?: number;
  /** Extra CAs (PEM) trusted for https, on top of the system ones. */
  trustedCas?: string[];
  maxRedirects?: number;
  onProgress?: (received: number, total: number | undefined) => void;
}

export interface Downloaded {
  /** The temporary file holding the body, fsynced; the caller renames or removes it. */
  path: string;
  bytes: number;
  /** The URL the body came from, after redirects. */
  url: string;
}

export interface SmallRequest extends Omit<FetchOptions, 'onProgress'> {
  method?: 'GET' | 'POST';
  body?: Buffer;
  contentType?: string;
  accept?: string;
}

export interface SmallResponse {
  contentType: string | undefined;
  body: Buffer;
  url: string;
}

// ---- the pure decisions -------------------------------------------------------

/** Why this URL may not be fetched, or undefined when it may. */
export function urlRefusal(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'it is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `only http and https URLs are fetched, not ${url.protocol}`;
  // The URL is written to logs, the status and alerts: a password in it would be too.
  if (url.username || url.password) return 'a URL with a user name or password is not accepted';
  if (!url.hostname) return 'the URL has no host';
  return undefined;
}

export type RedirectDecision = { follow: URL } | { refuse: string };

/**
 * What to do with a redirect (3xx) answer to a GET. `visited` holds the URLs
 * fetched so far, the first one included.
 */
export function redirectDecision(from: URL, status: number, location: string | undefined, visited: readonly string[], limit = defaultMaxRedirects): RedirectDecision {
  if (!followedStatuses.has(status)) return { refuse: `HTTP status ${status} is not a redirect that is followed` };
  if (!location) return { refuse: `HTTP status ${status} without a Location` };
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    return { refuse: `HTTP status ${status} redirects to something that is not a URL` };
  }
  const refusal = urlRefusal(to.href);
  if (refusal) return { refuse: `refused the redirect to ${shown(to)}: ${refusal}` };
  if (from.protocol === 'https:' && to.protocol === 'http:') return { refuse: `refused the redirect from https to ${shown(to)}: a fetch that starts on https stays on https` };
  if (visited.includes(to.href)) return { refuse: `redirect loop: ${shown(to)} was already fetched` };
  if (visited.length > limit) return { refuse: `more than ${limit} redirects (the last one to ${shown(to)})` };
  return { follow: to };
}

/** A URL for a message: as URL.href writes it (no control characters), cut short. */
function shown(url: URL): string {
  return url.href.length > 200 ? `${url.href.slice(0, 200)}…` : url.href;
}

// ---- fetching ------------------------------------------------------------------

/** Streams the body of a GET to a new temporary file in `dir`; on any failure the file is removed. */
export async function downloadToFile(url: string, dir: string, options: FetchOptions): Promise<Downloaded> {
  return withDeadline(options, async (deadline) => {
    const { response, url: final } = await respond(url, { method: 'GET' }, options, deadline);
    const total = declaredLength(response, options.maxBytes);
    const path = join(dir, `.download-${process.pid}-${randomBytes(6).toString('hex')}.part`);
    const counter = limitCounter(options, total);
    try {
      // flush: fsync before close, so a caller can rename the file into place durably.
      await pipeline(response, counter, createWriteStream(path, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: 1 << 20 }));
      checkComplete(counter.received, total);
      return { path, bytes: counter.received, url: final.href };
    } catch (error) {
      await rm(path, { force: true });
      throw deadline.translate(error, counter.received, total);
    }
  });
}

/** A GET, or a POST of a small body, whose answer (HTTP 200) is returned in memory. POSTs are not redirected. */
export async function fetchSmall(url: string, request: SmallRequest): Promise<SmallResponse> {
  if (request.maxBytes > smallBodyCeiling) throw new RangeError(`fetchSmall takes bodies up to ${smallBodyCeiling} bytes; use downloadToFile`);
  return withDeadline(request, async (deadline) => {
    const { response, url: final } = await respond(url, request, request, deadline);
    const total = declaredLength(response, request.maxBytes);
    const counter = limitCounter(request, total);
    const chunks: Buffer[] = [];
    try {
      await pipeline(response, counter, async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) chunks.push(chunk);
      });
      checkComplete(counter.received, total);
    } catch (error) {
      throw deadline.translate(error, counter.received, total);
    }
    const type = response.headers['content-type'];
    return { contentType: type, body: Buffer.concat(chunks, counter.received), url: final.href };
  });
}

interface Deadline {
  signal: AbortSignal;
  /** The error to report for a failure: the timeout when the deadline passed, else a plain description. */
  translate(error: unknown, received: number, total?: number): FetchError;
}

async function withDeadline<T>(options: Pick<FetchOptions, 'timeoutMs'>, run: (deadline: Deadline) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  const deadline: Deadline = {
    signal: controller.signal,
    translate(error, received, total) {
      if (controller.signal.aborted) return new FetchError(`timed out after ${seconds(options.timeoutMs)} with ${received} bytes received`, 'timeout');
      if (error instanceof FetchError) return error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ECONNRESET' || (error as Error).message === 'aborted')
        return new FetchError(`the connection closed after ${received}${total === undefined ? '' : ` of ${total}`} bytes`, 'truncated');
      return new FetchError(describeError(error as NodeJS.ErrnoException), 'network');
    },
  };
  try {
    return await run(deadline);
  } finally {
    clearTimeout(timer);
  }
}

interface Method {
  method?: 'GET' | 'POST';
  body?: Buffer;
  contentType?: string;
  accept?: string;
}

/** Follows redirects as the rules allow, to a 200 answer whose body is not read yet. */
async function respond(text: string, method: Method, options: FetchOptions, deadline: Deadline): Promise<{ response: http.IncomingMessage; url: URL }> {
  const refusal = urlRefusal(text);
  if (refusal) throw new FetchError(refusal, 'refused');
  let url = new URL(text);
  const visited = [url.href];
  for (;;) {
    const response = await requestOnce(url, method, options, deadline);
    const status = response.statusCode ?? 0;
    if (status === 200) return { response, url };
    // Neither a redirect's nor an error page's body is read: it is not what was asked for.
    response.destroy();
    if (status < 300 || status >= 400) throw new FetchError(`HTTP status ${status}${statusText(response)}`, 'http');
    if (method.method === 'POST') throw new FetchError(`HTTP status ${status}: a POST is not redirected`, 'refused');
    const decision = redirectDecision(url, status, response.headers.location, visited, options.maxRedirects ?? defaultMaxRedirects);
    if ('refuse' in decision) throw new FetchError(decision.refuse, 'refused');
    url = decision.follow;
    visited.push(url.href);
  }
}

function requestOnce(url: URL, method: Method, options: FetchOptions, deadline: Deadline): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { 'user-agent': userAgent, 'accept-encoding': 'identity' };
    if (method.accept) headers.accept = method.accept;
    if (method.body) {
      headers['content-type'] = method.contentType ?? 'application/octet-stream';
      headers['content-length'] = method.body.length;
    }
    // A fresh connection each time (agent: false): fetches are rare, and a kept-alive socket to a stopped server fails as a reset.
    const common = { agent: false as const, method: method.method ?? 'GET', headers };
    const request =
      url.protocol === 'https:'
        ? https.request(url, { ...common, minVersion: 'TLSv1.2', ...(options.trustedCas?.length ? { ca: [...rootCertificates, ...options.trustedCas] } : {}) })
        : http.request(url, common);
    const connectMs = options.connectTimeoutMs ?? Math.min(options.timeoutMs / 2, 15_000);
    let connectTimer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(connectTimer);
      deadline.signal.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      done();
      request.destroy();
      reject(deadline.translate(undefined, 0));
    };
    request.on('socket', (socket) => {
      connectTimer = setTimeout(() => {
        done();
        request.destroy();
        reject(new FetchError(`could not connect to ${url.host} within ${seconds(connectMs)}`, 'timeout'));
      }, connectMs);
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });
    request.on('response', (response) => {
      done();
      // From here the body's reader owns the deadline.
      const onBodyAbort = () => response.destroy(deadline.translate(undefined, 0));
      deadline.signal.addEventListener('abort', onBodyAbort, { once: true });
      response.once('close', () => deadline.signal.removeEventListener('abort', onBodyAbort));
      resolve(response);
    });
    request.on('error', (error) => {
      done();
      reject(deadline.translate(error, 0));
    });
    if (deadline.signal.aborted) return onAbort();
    deadline.signal.addEventListener('abort', onAbort, { once: true });
    request.end(method.body);
  });
}

function declaredLength(response: http.IncomingMessage, maxBytes: number): number | undefined {
  const header = response.headers['content-length'];
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  const size = Number(header);
  if (size > maxBytes) {
    response.destroy();
    throw new FetchError(`the body is ${size} bytes, above the limit of ${maxBytes} bytes`, 'too-large');
  }
  return size;
}

/** Passes chunks through, counting them; fails as soon as the count passes the limit, so the rest is never read. */
function limitCounter(options: Pick<FetchOptions, 'maxBytes' | 'onProgress'>, total: number | undefined): Transform & { received: number } {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counter.received += chunk.length;
      if (counter.received > options.maxBytes) return callback(new FetchError(`the body exceeded the limit of ${options.maxBytes} bytes`, 'too-large'));
      options.onProgress?.(counter.received, total);
      callback(null, chunk);
    },
  }) as Transform & { received: number };
  counter.received = 0;
  return counter;
}

function checkComplete(received: number, total: number | undefined): void {
  if (total !== undefined && received < total) throw new FetchError(`the body ended after ${received} of ${total} bytes`, 'truncated');
}

/** The reason phrase, if it is plain text (it comes from the server). */
function statusText(response: http.IncomingMessage): string {
  const text = response.statusMessage ?? '';
  return /^[\x20-\x7e]{1,60}$/.test(text) ? ` ${text}` : '';
}

function seconds(ms: number): string {
  return `${Number.isInteger(ms / 1000) ? ms / 1000 : (ms / 1000).toFixed(1)} s`;
}

function describeError(error: NodeJS.ErrnoException): string {
  if (error.code === 'ECONNREFUSED') return 'connection refused';
  if (error.code === 'ECONNRESET') return 'connection reset';
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return 'host not found';
  return error.code ? `${error.code}: ${error.message}` : error.message;
}
