// FIPS management mode (`fipsconfig`). Entering asks for the FIPS Officer
// password; the Officer's login runs in a process of its own (src/hsm). On
// success, pending changes are committed at once, and so is every change made
// while in the mode (seed "Committing Changes in AsyncOS 7.3"). The third wrong
// password wipes the HSM, requests a reboot and ends the session (seed 75758).
// Key and certificate work uses the crypto user's session pool in this process.
import { existsSync, rmSync } from 'node:fs';
import { isKeyAlgorithm } from '../hsm/algorithms.js';
import { HsmCertificates } from '../hsm/certificates.js';
import { dkimLabel, dkimTxtRecord, generateDkimKey } from '../hsm/dkim.js';
import { hsmFiles } from '../hsm/files.js';
import { HsmKeys } from '../hsm/keys.js';
import { runOfficerProcess } from '../hsm/officer-process.js';
import type { OfficerProcessResult } from '../hsm/officer-protocol.js';
import { readUserPin } from '../hsm/pin.js';
import { SessionPool } from '../hsm/pool.js';
import { type Command, type ConsoleContext, configurationFolder } from './commands.js';
import { UsageError } from './errors.js';
import { askPastedPem } from './pem-input.js';
import { recheckHsmInServices, selfTestStatus } from './system-commands.js';

/** Thrown when the session must end (third failed Officer password). */
export class SessionMustClose extends Error {}

interface CryptoUser {
  keys: HsmKeys;
  certificates: HsmCertificates;
}

let cryptoUser: (CryptoUser & { pool: SessionPool }) | undefined;

function hsm(ctx: ConsoleContext): CryptoUser {
  if (!cryptoUser) {
    const { modulePath, tokenLabel } = ctx.runtime.config.hsm;
    const pool = SessionPool.open({ modulePath, tokenLabel, userPin: readUserPin(hsmFiles(ctx.runtime.paths).userPin), size: 1 });
    const keys = new HsmKeys(pool);
    cryptoUser = { pool, keys, certificates: new HsmCertificates(keys) };
  }
  return cryptoUser;
}

export function closeCryptoUser(): void {
  cryptoUser?.pool.close();
  cryptoUser = undefined;
}

function failed(result: OfficerProcessResult): string | undefined {
  if (result.ok) return undefined;
  return 'error' in result ? result.error : 'wrong FIPS Officer password';
}

async function officerLogin(ctx: ConsoleContext, password: string): Promise<void> {
  const result = await runOfficerProcess({ command: 'login', password });
  if (!result.ok) await officerFailure(ctx, result);
}

/** A failed Officer request: a wrong password (counted; the third wipes the HSM and ends the session) or another error. */
async function officerFailure(ctx: ConsoleContext, result: OfficerProcessResult): Promise<never> {
  if ('zeroized' in result && result.zeroized) {
    ctx.print(
      'Third failed FIPS Officer password in a row: the HSM has been initialised, so every key and certificate it held is gone.\n' +
        'The appliance will reboot. This session is closing.',
    );
    throw new SessionMustClose('HSM zeroized after three failed FIPS Officer passwords');
  }
  if ('remainingAttempts' in result) {
    throw new UsageError(`Wrong FIPS Officer password. ${result.remainingAttempts} attempt(s) left before the HSM is wiped.`);
  }
  throw new UsageError(`The FIPS Officer login failed: ${failed(result)}`);
}

/** FIPS Backup or Restore, run by the Officer's process with progress; a wrong password counts like a login. */
async function backupOrRestore(command: 'backup' | 'restore', file: string | undefined, ctx: ConsoleContext): Promise<void> {
  requireMode(ctx);
  const path = consoleFile(ctx, file);
  const password = await ctx.askSecret('FIPS Officer password');
  const passphrase = await ctx.askSecret('Backup passphrase');
  const result = await runOfficerProcess({ command, password, passphrase, file: path }, { onProgress: (p) => ctx.print(`  ${JSON.stringify(p)}`) });
  if (!result.ok && ('zeroized' in result || 'remainingAttempts' in result)) await officerFailure(ctx, result);
  const problem = failed(result);
  if (problem) throw new UsageError(command === 'backup' ? `backup failed: ${problem}` : `restore failed, nothing was changed: ${problem}`);
  ctx.print(command === 'backup' ? `Backup written to ${path}.` : `Restored from ${path}.`);
}

/** Written at first boot when the image initialised the HSM with the factory Officer password. */
function factoryMarker(ctx: ConsoleContext): string {
  return hsmFiles(ctx.runtime.paths).officerPasswordIsFactory;
}

function passwordIsNoLongerFactory(ctx: ConsoleContext): void {
  rmSync(factoryMarker(ctx), { force: true });
}

async function changeOfficerPassword(ctx: ConsoleContext, current: string, next: string, repeated: string): Promise<void> {
  if (repeated !== next) throw new UsageError('the two new passwords differ; nothing was changed');
  if (next === current) throw new UsageError('the new FIPS Officer password must differ from the current one; nothing was changed');
  const result = await runOfficerProcess({ command: 'change-password', password: current, newPassword: next });
  if (!result.ok) await officerFailure(ctx, result);
  passwordIsNoLongerFactory(ctx);
  ctx.runtime.logs.write('fips', 'info', `FIPS Officer password changed by ${ctx.session.user} (${ctx.session.origin})`);
  ctx.print('The FIPS Officer password is changed. It cannot be retrieved: keep it safe.');
}

function requireMode(ctx: ConsoleContext): void {
  if (!ctx.session.fipsMode) throw new UsageError('this needs FIPS management mode: run "fipsconfig" first');
}

/** A backup file in the configuration folder, for the Officer's process: a plain name, not a link. */
function consoleFile(ctx: ConsoleContext, name: string | undefined): string {
  return configurationFolder(ctx).checkedPath(name);
}

const actions: Record<string, { usage: string; run(args: string[], ctx: ConsoleContext): Promise<void> | void }> = {
  status: {
    usage: 'status',
    async run(_args, ctx) {
      const hsmConfig = ctx.runtime.config.hsm;
      ctx.print(`FIPS management mode: ${ctx.session.fipsMode ? 'on' : 'off'}\nHSM: ${hsmConfig.device}, token "${hsmConfig.tokenLabel}", module ${hsmConfig.modulePath}`);
      ctx.print(`Self-test: ${await selfTestStatus(ctx)}`);
    },
  },
  init: {
    usage: 'init   (FIPS initialisation: sets the Officer password; wipes the HSM)',
    async run(_args, ctx) {
      const password = await ctx.askSecret('New FIPS Officer password');
      if ((await ctx.askSecret('Repeat the FIPS Officer password')) !== password) throw new UsageError('the two passwords differ; nothing was changed');
      const result = await runOfficerProcess({ command: 'initialise', password });
      const problem = failed(result);
      if (problem) throw new UsageError(`FIPS initialisation failed: ${problem}`);
      passwordIsNoLongerFactory(ctx);
      closeCryptoUser();
      ctx.print('The HSM is initialised. Keep the FIPS Officer password safe: it cannot be retrieved.');
      ctx.print(`Self-test: ${await recheckHsmInServices(ctx)}`);
    },
  },
  passwd: {
    usage: 'passwd   (change the FIPS Officer password)',
    async run(_args, ctx) {
      requireMode(ctx);
      const current = await ctx.askSecret('Current FIPS Officer password');
      const next = await ctx.askSecret('New FIPS Officer password');
      await changeOfficerPassword(ctx, current, next, await ctx.askSecret('Repeat the new password'));
    },
  },
  keys: {
    usage: 'keys',
    async run(_args, ctx) {
      requireMode(ctx);
      const keys = await hsm(ctx).keys.list();
      ctx.print(keys.length ? keys.map((k) => `  ${k.label}  ${k.algorithm}${k.backup ? '  (backup-able)' : ''}`).join('\n') : '  no keys');
    },
  },
  keygen: {
    usage: 'keygen LABEL rsa-2048|rsa-3072|rsa-4096|ec-p256|ec-p384 [backup]',
    async run([label, algorithm, backup], ctx) {
      requireMode(ctx);
      if (!label || !algorithm || !isKeyAlgorithm(algorithm)) throw new UsageError(`usage: fipsconfig ${actions.keygen!.usage}`);
      await hsm(ctx).keys.generate({ label, algorithm, backup: backup === 'backup' });
      ctx.print(`Key pair "${label}" (${algorithm}) generated in the HSM.`);
    },
  },
  csr: {
    usage: 'csr LABEL COMMON-NAME [DNS-NAME…]',
    async run([label, commonName, ...dnsNames], ctx) {
      requireMode(ctx);
      if (!label || !commonName) throw new UsageError(`usage: fipsconfig ${actions.csr!.usage}`);
      ctx.print(await hsm(ctx).certificates.csr(label, { subject: { commonName }, dnsNames: dnsNames.length ? dnsNames : [commonName] }));
    },
  },
  selfsign: {
    usage: 'selfsign LABEL COMMON-NAME [DAYS]',
    async run([label, commonName, days], ctx) {
      requireMode(ctx);
      if (!label || !commonName) throw new UsageError(`usage: fipsconfig ${actions.selfsign!.usage}`);
      const info = await hsm(ctx).certificates.selfSign(label, { subject: { commonName }, dnsNames: [commonName], days: Number(days ?? 365) });
      ctx.print(`Self-signed certificate for "${label}" valid until ${info.validTo}.`);
    },
  },
  import: {
    usage: 'import LABEL [FILE]   (a PEM certificate and its chain: pasted, or a file in the configuration folder)',
    async run([label, file], ctx) {
      requireMode(ctx);
      if (!label) throw new UsageError(`usage: fipsconfig ${actions.import!.usage}`);
      const pem = file ? configurationFolder(ctx).read(file) : await askPastedPem(ctx, `the certificate for key "${label}" and its chain`);
      const info = await hsm(ctx).certificates.import(label, pem);
      ctx.print(`Certificate ${info.subject} imported next to key "${label}" (chain of ${info.chainLength}).`);
    },
  },
  certs: {
    usage: 'certs',
    async run(_args, ctx) {
      requireMode(ctx);
      const certs = await hsm(ctx).certificates.list();
      ctx.print(certs.length ? certs.map((c) => `  ${c.label}  ${c.subject}  until ${c.validTo}`).join('\n') : '  no certificates');
    },
  },
  export: {
    usage: 'export LABEL',
    async run([label], ctx) {
      requireMode(ctx);
      ctx.print(await hsm(ctx).certificates.exportPem(label ?? '', { chain: true }));
    },
  },
  delete: {
    usage: 'delete LABEL   (the key and its certificates)',
    async run([label], ctx) {
      requireMode(ctx);
      await hsm(ctx).keys.delete(label ?? '');
      ctx.print(`Key "${label}" and its certificates deleted.`);
    },
  },
  dkimkey: {
    usage: 'dkimkey DOMAIN SELECTOR',
    async run([domain, selector], ctx) {
      requireMode(ctx);
      if (!domain || !selector) throw new UsageError(`usage: fipsconfig ${actions.dkimkey!.usage}`);
      const key = { domain: domain.trim(), selector: selector.trim() };
      await generateDkimKey(hsm(ctx).keys, key, { backup: true });
      const txt = await dkimTxtRecord(hsm(ctx).keys, key);
      ctx.print(`DKIM key "${dkimLabel(key)}" generated. Publish this DNS record:\n${JSON.stringify(txt, null, 2)}`);
    },
  },
  backup: {
    usage: 'backup FILE   (certificates and wrapped keys, as XML in the configuration folder)',
    run: ([file], ctx) => backupOrRestore('backup', file, ctx),
  },
  restore: {
    usage: 'restore FILE',
    run: ([file], ctx) => backupOrRestore('restore', file, ctx),
  },
  exit: {
    usage: 'exit   (leave FIPS management mode)',
    run(_args, ctx) {
      ctx.session.fipsMode = false;
      closeCryptoUser();
      ctx.print('Left FIPS management mode.');
    },
  },
};

export const fipsconfig: Command = {
  summary: 'FIPS management mode: Officer login, keys, certificates, DKIM keys, backup and restore',
  usage: ['  (enter the mode)', ...Object.values(actions).map((a) => a.usage)].join('\n'),
  async run(args, ctx) {
    const [name, ...rest] = args;
    if (name) {
      const action = actions[name];
      if (!action) throw new UsageError(`no fipsconfig action "${name}"; see "help fipsconfig"`);
      return action.run(rest, ctx);
    }
    if (ctx.session.fipsMode) return actions.status!.run([], ctx);
    const password = await ctx.askSecret('FIPS Officer password');
    await officerLogin(ctx, password);
    if (existsSync(factoryMarker(ctx))) {
      ctx.print('The FIPS Officer password is still the factory one: set a new one now to enter FIPS management mode.');
      await changeOfficerPassword(ctx, password, await ctx.askSecret('New FIPS Officer password'), await ctx.askSecret('Repeat the new password'));
    }
    ctx.session.fipsMode = true;
    ctx.runtime.logs.write('fips', 'info', `FIPS Officer login by ${ctx.session.user} (${ctx.session.origin}) succeeded; FIPS management mode entered`);
    if (ctx.candidate.pending) {
      const meta = await ctx.commit('entering FIPS management mode: pending changes committed automatically');
      ctx.print(`Pending changes committed as revision ${meta.revision}.`);
    }
    ctx.print('FIPS management mode. Every change accepted here is committed at once. "fipsconfig exit" leaves the mode.');
  },
};
