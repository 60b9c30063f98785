// Downloads a CRL body from an http, https or file URL, bounded in size and
// time, reporting progress as bytes arrive. https servers are verified
// against the system CAs plus the appliance's trust store.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { fileURLToPath } from 'node:url';

export class FetchError extends Error {
  override name = 'FetchError';
}

export interface FetchLimits {
  maxBytes: number;
  timeoutMs: number;
  /** Extra CAs (PEM) trusted for https, on top of the system ones. */
  trustedCas: string[];
  onProgress?: (received: number, total: number | undefined) => void;
}

const maxRedirects = 3;

export async function fetchCrlBody(url: string, limits: FetchLimits): Promise<Buffer> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), limits.timeoutMs);
  try {
    return await fetchWithin(new URL(url), limits, deadline.signal, 0);
  } finally {
    clearTimeout(timer);
  }
}

async function fetchWithin(url: URL, limits: FetchLimits, signal: AbortSignal, redirects: number): Promise<Buffer> {
  if (url.protocol === 'file:') {
    const path = fileURLToPath(url);
    const size = await stat(path).then(
      (s) => s.size,
      (error: NodeJS.ErrnoException) => {
        throw new FetchError(error.code === 'ENOENT' ? `${path} does not exist` : `${path}: ${error.message}`);
      },
    );
    checkDeclaredSize(size, limits.maxBytes);
    return collect(createReadStream(path, { highWaterMark: 1 << 20 }), size, limits, signal);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FetchError(`unsupported URL scheme ${url.protocol}`);
  const response = await request(url, limits, signal);
  const status = response.statusCode ?? 0;
  if (status >= 300 && status < 400 && response.headers.location) {
    response.resume();
    if (redirects >= maxRedirects) throw new FetchError(`more than ${maxRedirects} redirects`);
    return fetchWithin(new URL(response.headers.location, url), limits, signal, redirects + 1);
  }
  if (status !== 200) {
    response.resume();
    throw new FetchError(`HTTP status ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}`);
  }
  const declared = response.headers['content-length'] ? Number(response.headers['content-length']) : undefined;
  if (declared !== undefined) checkDeclaredSize(declared, limits.maxBytes, response);
  return collect(response, declared, limits, signal);
}

function request(url: URL, limits: FetchLimits, signal: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      request.destroy();
      reject(timeoutError(limits, 0));
    };
    // A fresh connection each time (agent: false): downloads are rare, and a kept-alive socket to a stopped server fails as a reset.
    const options = { agent: false, headers: { 'user-agent': 'hsm-mail-gateway crl-fetch' } };
    const request = url.protocol === 'https:' ? https.get(url, { ...options, ca: [...rootCertificates, ...limits.trustedCas] }, resolve) : http.get(url, options, resolve);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    request.on('response', () => signal.removeEventListener('abort', onAbort));
    request.on('error', (error: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort);
      reject(new FetchError(describeNetworkError(error)));
    });
  });
}

function collect(stream: Readable, total: number | undefined, limits: FetchLimits, signal: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const fail = (error: Error) => {
      signal.removeEventListener('abort', onAbort);
      stream.destroy();
      reject(error);
    };
    const onAbort = () => fail(timeoutError(limits, received));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBytes) return fail(new FetchError(`the body exceeded the limit of ${limits.maxBytes} bytes`));
      chunks.push(chunk);
      limits.onProgress?.(received, total);
    });
    stream.on('end', () => {
      signal.removeEventListener('abort', onAbort);
      if (total !== undefined && received < total) return reject(new FetchError(`the body ended after ${received} of ${total} bytes`));
      resolve(Buffer.concat(chunks, received));
    });
    stream.on('error', (error: NodeJS.ErrnoException) => fail(new FetchError(describeNetworkError(error))));
  });
}

function checkDeclaredSize(size: number, maxBytes: number, response?: http.IncomingMessage): void {
  if (size <= maxBytes) return;
  response?.destroy();
  throw new FetchError(`the body is ${size} bytes, above the limit of ${maxBytes} bytes`);
}

function timeoutError(limits: FetchLimits, received: number): FetchError {
  return new FetchError(`timed out after ${limits.timeoutMs / 1000} s with ${received} bytes received`);
}

function describeNetworkError(error: NodeJS.ErrnoException): string {
  if (error.code === 'ECONNREFUSED') return 'connection refused';
  if (error.code === 'ECONNRESET') return 'connection reset';
  if (error.code === 'ENOTFOUND') return 'host not found';
  return error.code ? `${error.code}: ${error.message}` : error.message;
}
