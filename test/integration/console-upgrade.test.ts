// Upgrades (seed "Upgrade Paths"): the console takes a bundle only from a version the
// bundle lists, checks its payload, stages it; apply-upgrade (the image's root unit)
// installs it. Bundles are made here with tar, as scripts/build-image makes them.
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import t, { type Test } from 'tap';
import { consoleSession } from '../helpers/console.js';
import { tempState } from '../helpers/state.js';

const applyUpgrade = resolve(import.meta.dirname, '../../image/rootfs/usr/lib/appliance/bin/apply-upgrade');
const running = '0.1.0+202601010000';
/** The build's signing key (scripts/build-image makes an Ed25519 one), and another nobody trusts. */
const buildKey = generateKeyPairSync('ed25519');
const strangerKey = generateKeyPairSync('ed25519');

/** A bundle installing `version` on the `from` versions; `tamper` breaks the payload's checksum; `signer` signs upgrade.json. */
function makeBundle(dir: string, version: string, from: string[], tamper = false, signer = buildKey.privateKey): string {
  const work = join(dir, `bundle-${version}-${from.join('_')}${tamper ? '-tampered' : ''}${signer === buildKey.privateKey ? '' : '-stranger'}`);
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'usr/lib/appliance/node/bin'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'usr/lib/appliance/node/bin/node'), '#!/bin/sh\n');
  chmodSync(join(tree, 'usr/lib/appliance/node/bin/node'), 0o755);
  writeFileSync(join(tree, 'usr/lib/appliance/RELEASE'), `${version}\n`);
  writeFileSync(join(tree, 'etc/appliance-version'), `${version}\n`);
  execFileSync('tar', ['-cf', join(work, 'payload.tar'), '-C', tree, 'usr/lib/appliance', 'etc/appliance-version']);
  const sha = createHash('sha256')
    .update(readFileSync(join(work, 'payload.tar')))
    .digest('hex');
  const manifest = { product: 'hsm-mail-gateway', version, upgradeFrom: from, payloadSha256: tamper ? sha.replace(/^./, (c) => (c === '0' ? '1' : '0')) : sha };
  writeFileSync(join(work, 'upgrade.json'), JSON.stringify(manifest));
  writeFileSync(join(work, 'upgrade.json.sig'), sign(null, readFileSync(join(work, 'upgrade.json')), signer));
  const bundle = join(work, `appliance-${version}.upgrade.tar`);
  execFileSync('tar', ['-cf', bundle, '-C', work, 'upgrade.json', 'upgrade.json.sig', 'payload.tar']);
  return bundle;
}

async function appliance(t: Test) {
  const root = tempState(t, 'appliance-upgrade-');
  const state = join(root, 'var/lib/appliance');
  mkdirSync(join(state, 'configuration'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/appliance-version'), `${running}\n`);
  mkdirSync(join(root, 'usr/lib/appliance'), { recursive: true });
  writeFileSync(join(root, 'usr/lib/appliance/RELEASE'), `${running}\n`);
  const publicKey = join(root, 'usr/lib/appliance/upgrade-signing.pub');
  writeFileSync(publicKey, buildKey.publicKey.export({ type: 'spki', format: 'pem' }));
  const env = { ...process.env, APPLIANCE_STATE_DIR: state, APPLIANCE_VERSION_FILE: join(root, 'etc/appliance-version'), APPLIANCE_UPGRADE_KEY: publicKey };
  // A first session commits something, so that we can see the configuration is kept.
  await consoleSession({ env }, ['systemconfig edit timezone=Europe/Berlin', 'commit before the upgrade', 'exit']);
  const revision = () => readFileSync(join(state, 'config/committed.json'), 'utf8');
  return { root, state, env, revision };
}

t.test('a bundle that does not list the running version is refused, and so are damaged and foreign files', async (t) => {
  const a = await appliance(t);
  const configBefore = a.revision();
  cpSync(makeBundle(a.root, '0.3.0+202612010000', ['0.2.0+202611010000', '0.2.1+202611150000']), join(a.state, 'configuration/skip.tar'));
  cpSync(makeBundle(a.root, '0.2.0+202612010000', [running], true), join(a.state, 'configuration/damaged.tar'));
  cpSync(makeBundle(a.root, '0.2.0+202612010000', [running], false, strangerKey.privateKey), join(a.state, 'configuration/stranger.tar'));
  writeFileSync(join(a.state, 'configuration/notes.tar'), 'not a tar file\n');
  const session = await consoleSession({ env: a.env }, [
    'upgrade skip.tar now',
    'upgrade damaged.tar now',
    'upgrade stranger.tar now',
    'upgrade notes.tar now',
    'upgrade ../../etc/passwd now',
    'exit',
  ]);
  t.match(
    session.output,
    /upgrade refused: 0\.3\.0\+202612010000 can be installed only on 0\.2\.0\+202611010000, 0\.2\.1\+202611150000; this appliance runs 0\.1\.0\+202601010000\. Upgrade to one of those versions first\. Nothing was changed\./,
  );
  t.match(session.output, /upgrade refused: the bundle is damaged: its payload's SHA-256 is [0-9a-f]{64}, upgrade\.json says [0-9a-f]{64}/);
  t.match(session.output, /upgrade refused: the bundle is not signed by the key this appliance trusts\. Nothing was changed\./, 'a bundle signed by another key is refused');
  t.match(session.output, /upgrade refused: the file is not an upgrade bundle/);
  t.match(session.output, /"\.\.\/\.\.\/etc\/passwd" is neither an http\(s\) URL nor a file name in the configuration folder/);
  t.notOk(existsSync(join(a.state, 'run/upgrade-request.json')), 'nothing was staged');
  t.notOk(existsSync(join(a.state, 'upgrade/staged.tar')));
  t.equal(a.revision(), configBefore, 'the configuration is untouched');
  t.ok(existsSync(join(a.state, 'configuration/skip.tar')), "the administrator's file stays where it was");
});

t.test('a bundle for this version is downloaded with progress, staged, and installed by apply-upgrade; the configuration is kept', async (t) => {
  const a = await appliance(t);
  const configBefore = a.revision();
  const bundle = readFileSync(makeBundle(a.root, '0.2.0+202612010000', ['0.0.9+202512010000', running]));
  const server = createServer((req, res) => {
    if (req.url !== '/appliance-0.2.0.upgrade.tar') return res.writeHead(404).end();
    res.writeHead(200, { 'content-length': bundle.length }).end(bundle);
  }).listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const missing = await consoleSession({ env: a.env }, [`upgrade ${base}/nothing-here.tar now`, 'exit']);
  t.match(missing.output, /downloading http:\/\/127\.0\.0\.1:\d+\/nothing-here\.tar failed: HTTP status 404/);
  const declined = await consoleSession({ env: a.env }, [`upgrade ${base}/appliance-0.2.0.upgrade.tar`, 'n', 'exit']);
  t.match(declined.output, /downloaded 0 MB of 0 MB \(100%\)/, 'the download shows its progress');
  t.match(declined.output, /The bundle installs 0\.2\.0\+202612010000; it may be installed on 0\.0\.9\+202512010000, 0\.1\.0\+202601010000\./);
  t.match(declined.output, /Cancelled; nothing was changed\./);
  t.notOk(existsSync(join(a.state, 'upgrade/download.tar')), 'a declined download is not kept');

  const accepted = await consoleSession({ env: a.env }, [`upgrade ${base}/appliance-0.2.0.upgrade.tar`, 'yes', 'exit']);
  t.match(accepted.output, /Upgrade to 0\.2\.0\+202612010000 staged/);
  const request = JSON.parse(readFileSync(join(a.state, 'run/upgrade-request.json'), 'utf8'));
  t.match(request, { version: '0.2.0+202612010000', bytes: bundle.length, requestedBy: 'officer1 (192.0.2.44)' });
  t.match(readFileSync(join(a.state, 'logs/system_logs/system_logs.current'), 'utf8'), /upgrade from 0\.1\.0\+202601010000 to 0\.2\.0\+202612010000 staged by officer1/);

  const env = { ...process.env, APPLIANCE_PREFIX: a.root, UPGRADE_REBOOT: 'echo REBOOT', UPGRADE_NODE: process.execPath };
  const applied = execFileSync(applyUpgrade, { env, encoding: 'utf8' });
  t.match(applied, /installing 0\.2\.0\+202612010000 over 0\.1\.0\+202601010000/);
  t.match(applied, /REBOOT/, 'then it reboots');
  t.equal(readFileSync(join(a.root, 'etc/appliance-version'), 'utf8').trim(), '0.2.0+202612010000', 'the new version is recorded');
  t.equal(readFileSync(join(a.root, 'usr/lib/appliance/RELEASE'), 'utf8').trim(), '0.2.0+202612010000', 'the new application is in place');
  t.equal(readFileSync(join(a.root, 'usr/lib/appliance.previous/RELEASE'), 'utf8').trim(), running, 'the previous one is kept');
  t.equal(a.revision(), configBefore, 'the configuration is kept');
  t.ok(
    existsSync(join(a.state, 'run/upgrade-request.done.json')) && !existsSync(join(a.state, 'run/upgrade-request.json')),
    'the request is done: no second install at the next boot',
  );
  const version = await consoleSession({ env: a.env }, ['version', 'exit']);
  t.match(version.output, /Appliance firmware 0\.2\.0\+202612010000/);
});

/** Stages `bundle` as if the console had, runs apply-upgrade (as root does) on the test's tree; returns what it printed. */
function applyStaged(a: Awaited<ReturnType<typeof appliance>>, bundle: string): string {
  mkdirSync(join(a.state, 'upgrade'), { recursive: true });
  mkdirSync(join(a.state, 'run'), { recursive: true });
  cpSync(bundle, join(a.state, 'upgrade/staged.tar'));
  writeFileSync(join(a.state, 'run/upgrade-request.json'), '{}');
  const env = { ...process.env, APPLIANCE_PREFIX: a.root, UPGRADE_REBOOT: 'echo REBOOT', UPGRADE_NODE: process.execPath };
  try {
    return execFileSync(applyUpgrade, { env, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    return String((err as { stdout: string }).stdout);
  }
}

t.test('apply-upgrade checks again as root: what the console would refuse, staged behind its back, installs nothing', async (t) => {
  const a = await appliance(t);
  const stranger = applyStaged(a, makeBundle(a.root, '0.2.0+202612010000', [running], false, strangerKey.privateKey));
  t.match(stranger, /upgrade refused: the bundle is not signed by the key this image trusts; nothing was changed/);
  const otherPath = applyStaged(a, makeBundle(a.root, '0.3.0+202612010000', ['0.2.0+202611010000']));
  t.match(otherPath, /upgrade refused: 0\.3\.0\+202612010000 does not list 0\.1\.0\+202601010000 as an upgrade path; nothing was changed/);
  t.notMatch(stranger + otherPath, /REBOOT/);
  t.equal(readFileSync(join(a.root, 'etc/appliance-version'), 'utf8').trim(), running);
  t.equal(readFileSync(join(a.root, 'usr/lib/appliance/RELEASE'), 'utf8').trim(), running);
  t.notOk(existsSync(join(a.state, 'run/upgrade-request.json')), 'the request is not retried at every boot');
  const version = await consoleSession({ env: a.env }, ['version', 'exit']);
  t.match(version.output, /Last upgrade: refused at install: 0\.3\.0\+202612010000 does not list 0\.1\.0\+202601010000 as an upgrade path/, 'the administrator sees why');
});
