// FIPS management mode (`fipsconfig`): the console's words for the operations of
// src/admin/fips.ts. Entering asks for the FIPS Officer password; on success,
// pending changes are committed at once, and so is every change made while in
// the mode (seed "Committing Changes in AsyncOS 7.3"). The third wrong password
// wipes the HSM, requests a reboot and ends the session (seed 75758).
import {
  changeOfficerPassword,
  closeCryptoUser,
  deleteKey,
  exportCertificate,
  fipsBackup,
  fipsRestore,
  fipsStatus,
  generateDkim,
  generateKey,
  HsmZeroized,
  importCertificate,
  initialiseHsm,
  keyAlgorithmNames,
  listCertificates,
  listKeys,
  makeCsr,
  officerLogin,
  selfSign,
} from '../admin/fips.js';
import { actorOf, type Command, type ConsoleContext, configurationFolder } from './commands.js';
import { UsageError } from './errors.js';
import { askPastedPem } from './pem-input.js';

export { closeCryptoUser };

/** Thrown when the session must end (third failed Officer password). */
export class SessionMustClose extends Error {}

/** Runs an Officer operation; the wipe after a third wrong password ends the session. */
async function asOfficer<T>(ctx: ConsoleContext, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (!(err instanceof HsmZeroized)) throw err;
    ctx.print(`${err.message} This session is closing.`);
    throw new SessionMustClose('HSM zeroized after three failed FIPS Officer passwords');
  }
}

// Checked here too, before any password is asked for; the operations check it again.
function requireMode(ctx: ConsoleContext): void {
  if (!ctx.session.fipsMode) throw new UsageError('this needs FIPS management mode: run "fipsconfig" first');
}

async function backupOrRestore(command: 'backup' | 'restore', file: string | undefined, ctx: ConsoleContext): Promise<void> {
  requireMode(ctx);
  const path = configurationFolder(ctx).checkedPath(file); // a bad name is refused before any password is asked
  const password = await ctx.askSecret('FIPS Officer password');
  const passphrase = await ctx.askSecret('Backup passphrase');
  const request = { file: file ?? '', password, passphrase, onProgress: (p: unknown) => ctx.print(`  ${JSON.stringify(p)}`) };
  if (command === 'backup') {
    const written = await asOfficer(ctx, () => fipsBackup(ctx.runtime, actorOf(ctx), request));
    ctx.print(`Backup written to ${written.path}.`);
  } else {
    await asOfficer(ctx, () => fipsRestore(ctx.runtime, actorOf(ctx), request));
    ctx.print(`Restored from ${path}.`);
  }
}

async function newOfficerPassword(ctx: ConsoleContext, current: string): Promise<void> {
  const next = await ctx.askSecret('New FIPS Officer password');
  const repeated = await ctx.askSecret('Repeat the new password');
  await asOfficer(ctx, () => changeOfficerPassword(ctx.runtime, actorOf(ctx), { current, next, repeated }));
  ctx.print('The FIPS Officer password is changed. It cannot be retrieved: keep it safe.');
}

const actions: Record<string, { usage: string; run(args: string[], ctx: ConsoleContext): Promise<void> | void }> = {
  status: {
    usage: 'status',
    async run(_args, ctx) {
      const status = await fipsStatus(ctx.runtime, actorOf(ctx));
      ctx.print(`FIPS management mode: ${ctx.session.fipsMode ? 'on' : 'off'}\nHSM: ${status.device}, token "${status.tokenLabel}", module ${status.modulePath}`);
      ctx.print(`Self-test: ${status.selfTest}`);
    },
  },
  init: {
    usage: 'init   (FIPS initialisation: sets the Officer password; wipes the HSM)',
    async run(_args, ctx) {
      const password = await ctx.askSecret('New FIPS Officer password');
      const repeated = await ctx.askSecret('Repeat the FIPS Officer password');
      const { selfTest, warnings } = await initialiseHsm(ctx.runtime, actorOf(ctx), { password, repeated });
      ctx.print('The HSM is initialised. Keep the FIPS Officer password safe: it cannot be retrieved.');
      for (const warning of warnings) ctx.print(warning);
      ctx.print(`Self-test: ${selfTest}`);
    },
  },
  passwd: {
    usage: 'passwd   (change the FIPS Officer password)',
    async run(_args, ctx) {
      requireMode(ctx);
      await newOfficerPassword(ctx, await ctx.askSecret('Current FIPS Officer password'));
    },
  },
  keys: {
    usage: 'keys',
    async run(_args, ctx) {
      requireMode(ctx);
      const keys = await listKeys(ctx.runtime, actorOf(ctx));
      ctx.print(keys.length ? keys.map((k) => `  ${k.label}  ${k.algorithm}${k.backup ? '  (backup-able)' : ''}`).join('\n') : '  no keys');
    },
  },
  keygen: {
    usage: `keygen LABEL ${keyAlgorithmNames.join('|')} [backup]`,
    async run([label, algorithm, backup], ctx) {
      requireMode(ctx);
      if (!label || !algorithm || !keyAlgorithmNames.includes(algorithm as never)) throw new UsageError(`usage: fipsconfig ${actions.keygen!.usage}`);
      await generateKey(ctx.runtime, actorOf(ctx), { label, algorithm, backup: backup === 'backup' });
      ctx.print(`Key pair "${label}" (${algorithm}) generated in the HSM.`);
    },
  },
  csr: {
    usage: 'csr LABEL COMMON-NAME [DNS-NAME…]',
    async run([label, commonName, ...dnsNames], ctx) {
      requireMode(ctx);
      if (!label || !commonName) throw new UsageError(`usage: fipsconfig ${actions.csr!.usage}`);
      ctx.print(await makeCsr(ctx.runtime, actorOf(ctx), { label, commonName, dnsNames }));
    },
  },
  selfsign: {
    usage: 'selfsign LABEL COMMON-NAME [DAYS]',
    async run([label, commonName, days], ctx) {
      requireMode(ctx);
      if (!label || !commonName) throw new UsageError(`usage: fipsconfig ${actions.selfsign!.usage}`);
      const info = await selfSign(ctx.runtime, actorOf(ctx), { label, commonName, days: Number(days ?? 365) });
      ctx.print(`Self-signed certificate for "${label}" valid until ${info.validTo}.`);
    },
  },
  import: {
    usage: 'import LABEL [FILE]   (a PEM certificate and its chain: pasted, or a file in the configuration folder)',
    async run([label, file], ctx) {
      requireMode(ctx);
      if (!label) throw new UsageError(`usage: fipsconfig ${actions.import!.usage}`);
      const pem = file ? configurationFolder(ctx).read(file) : await askPastedPem(ctx, `the certificate for key "${label}" and its chain`);
      const info = await importCertificate(ctx.runtime, actorOf(ctx), label, pem);
      ctx.print(`Certificate ${info.subject} imported next to key "${label}" (chain of ${info.chainLength}).`);
    },
  },
  certs: {
    usage: 'certs',
    async run(_args, ctx) {
      requireMode(ctx);
      const certs = await listCertificates(ctx.runtime, actorOf(ctx));
      ctx.print(certs.length ? certs.map((c) => `  ${c.label}  ${c.subject}  until ${c.validTo}`).join('\n') : '  no certificates');
    },
  },
  export: {
    usage: 'export LABEL',
    async run([label], ctx) {
      requireMode(ctx);
      ctx.print(await exportCertificate(ctx.runtime, actorOf(ctx), label ?? ''));
    },
  },
  delete: {
    usage: 'delete LABEL   (the key and its certificates)',
    async run([label], ctx) {
      requireMode(ctx);
      await deleteKey(ctx.runtime, actorOf(ctx), label ?? '');
      ctx.print(`Key "${label}" and its certificates deleted.`);
    },
  },
  dkimkey: {
    usage: 'dkimkey DOMAIN SELECTOR',
    async run([domain, selector], ctx) {
      requireMode(ctx);
      if (!domain || !selector) throw new UsageError(`usage: fipsconfig ${actions.dkimkey!.usage}`);
      const key = await generateDkim(ctx.runtime, actorOf(ctx), { domain, selector });
      ctx.print(`DKIM key "${key.label}" generated. Publish this DNS record:\n${JSON.stringify(key.txt, null, 2)}`);
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
    const { mustChangePassword } = await asOfficer(ctx, () => officerLogin(ctx.runtime, actorOf(ctx), password));
    if (mustChangePassword) {
      ctx.print('The FIPS Officer password is still the factory one: set a new one now to enter FIPS management mode.');
      await newOfficerPassword(ctx, password);
    }
    ctx.session.fipsMode = true;
    if (ctx.candidate.pending) {
      const meta = await ctx.commit('entering FIPS management mode: pending changes committed automatically');
      ctx.print(`Pending changes committed as revision ${meta.revision}.`);
    }
    ctx.print('FIPS management mode. Every change accepted here is committed at once. "fipsconfig exit" leaves the mode.');
  },
};
