// The firmware version: the image writes it to /etc/appliance-version at build time;
// outside the image (scripts/start, tests) it is the package version, marked as such.
import { readFileSync } from 'node:fs';

export const imageVersionFile = process.env.APPLIANCE_VERSION_FILE ?? '/etc/appliance-version';

export function firmwareVersion(): string {
  try {
    const version = readFileSync(imageVersionFile, 'utf8').trim();
    if (version) return version;
  } catch {
    // not an image: fall through to the package version
  }
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `${pkg.version} (development build, not an image)`;
}
