// An HTTP server on 127.0.0.1 that serves files as they are at each request: CRL
// sources take only http(s) URLs (src/os/fetch.ts), so a test that publishes a CRL
// by writing a file serves it with `await fileServer(t)` and `url(path)`.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

export async function fileServer(t?: Test): Promise<{ url(path: string): string; close(): void }> {
  const files: string[] = [];
  const server = http.createServer(async (request, response) => {
    const path = files[Number(/^\/file\/(\d+)/.exec(request.url ?? '')?.[1] ?? -1)];
    const body = path === undefined ? undefined : await readFile(path).catch(() => undefined);
    if (!body) return response.writeHead(404, 'Not Found').end();
    response.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref(); // a test file's top level may use it: it does not keep the process alive
  const { port } = server.address() as AddressInfo;
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  t?.teardown(close);
  return {
    /** The URL serving `path` (registered at the first call). */
    url(path: string) {
      let index = files.indexOf(path);
      if (index < 0) index = files.push(path) - 1;
      return `http://127.0.0.1:${port}/file/${index}/${path.split('/').pop()}`;
    },
    close,
  };
}
