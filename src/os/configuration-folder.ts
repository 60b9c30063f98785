// A file in the configuration folder (state/configuration): what saveconfig writes,
// loadconfig reads, PEM files the console takes (pem=@FILE, fipsconfig import), FIPS
// backups and authreport's CSV. A name is one plain file name, never a path; the
// folder must be a real folder, and a symbolic link is refused both ways: read with
// O_NOFOLLOW, written through writeFileDurably (a temporary opened with O_NOFOLLOW,
// renamed over the name) after checking the name is not a link or anything but a
// file. So a link planted in the folder can neither leak a file from elsewhere
// (/etc/shadow, the HSM token) nor make a write land outside the folder.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from './atomic-file.js';

export class ConfigurationFolderError extends Error {}

const plainName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;
const defaultMaxBytes = 16 * 1024 * 1024;

export class ConfigurationFolder {
  constructor(readonly dir: string) {}

  /** The path of `name` in the folder; refuses anything but a plain file name (with `extension`, ending in it). */
  pathOf(name: string | undefined, extension?: string): string {
    const ending = extension ? ` and end with ${extension}` : '';
    if (!name || !plainName.test(name) || (extension && !name.endsWith(extension))) {
      throw new ConfigurationFolderError(`"${name ?? ''}" is not a file name in the configuration folder: use letters, digits, . _ -${ending}`);
    }
    return join(this.dir, name);
  }

  /** The folder, made if missing; refused if it is a link or not a folder. */
  private folder(): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const stat = lstatSync(this.dir);
    if (stat.isSymbolicLink() || !stat.isDirectory()) throw new ConfigurationFolderError(`${this.dir} is not a folder (a link is refused)`);
    return this.dir;
  }

  read(name: string | undefined, extension?: string, maxBytes = defaultMaxBytes): string {
    const path = this.pathOf(name, extension);
    this.folder();
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new ConfigurationFolderError(`there is no ${name} in the configuration folder`);
      if (code === 'ELOOP') throw new ConfigurationFolderError(`${name} in the configuration folder is a symbolic link, which is refused: copy the file itself there`);
      throw new ConfigurationFolderError(`cannot read ${name} in the configuration folder: ${(err as Error).message}`);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new ConfigurationFolderError(`${name} in the configuration folder is not a regular file`);
      if (stat.size > maxBytes) throw new ConfigurationFolderError(`${name} is larger than ${Math.round(maxBytes / 1024 / 1024)} MB`);
      const buffer = Buffer.alloc(stat.size);
      let got = 0;
      while (got < buffer.length) {
        const n = readSync(fd, buffer, got, buffer.length - got, got);
        if (n === 0) break;
        got += n;
      }
      return buffer.subarray(0, got).toString('utf8');
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The path of `name` for another process to open (the Officer's backup and restore, the
   * upgrade check): refused if it is a link or not a regular file; it may not exist yet.
   */
  checkedPath(name: string | undefined, extension?: string): string {
    const path = this.pathOf(name, extension);
    this.folder();
    let stat: ReturnType<typeof lstatSync> | undefined;
    try {
      stat = lstatSync(path);
    } catch {}
    if (stat?.isSymbolicLink()) throw new ConfigurationFolderError(`${name} in the configuration folder is a symbolic link, which is refused: remove it first`);
    if (stat && !stat.isFile()) throw new ConfigurationFolderError(`${name} in the configuration folder is not a regular file`);
    return path;
  }

  /** Writes `name` durably, readable by the appliance account only. */
  write(name: string | undefined, data: string | Uint8Array, extension?: string, mode = 0o600): string {
    const path = this.checkedPath(name, extension);
    writeFileDurably(path, data, mode);
    return path;
  }
}
