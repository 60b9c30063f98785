// Interface settings: typed at the console, committed, rendered as systemd-networkd
// files by network-apply (the root unit's program), stale files removed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/os/config/validate.js';
import { networkdFiles } from '../../src/os/network.js';
import { consoleSession } from '../helpers/console.js';
import { compiled, tempState } from '../helpers/state.js';

const networkApply = compiled('os/network-apply.js');

t.test('the factory setting is DHCP on the wired links; an interface with neither DHCP nor an address is refused', async (t) => {
  const config = parseConfig({ system: { hostname: 'mail.example.com' } }, 'test');
  t.same(
    [...networkdFiles(config).entries()],
    [
      [
        '10-appliance-Data1.network',
        '# Written by the appliance from its committed configuration (interface "Data1"); edit it with interfaceconfig.\n[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n',
      ],
    ],
  );
  t.throws(
    () => parseConfig({ system: { hostname: 'm.example.com' }, network: { interfaces: [{ name: 'Mgmt', match: 'ens4' }] } }, 'bad'),
    /network\.interfaces\.0\.addresses: interface "Mgmt" needs dhcp=yes or at least one address/,
  );
  t.throws(() => parseConfig({ system: { hostname: 'm.example.com' }, network: { interfaces: [] } }, 'bad'), /at least one interface is needed/);
  t.throws(
    () => parseConfig({ system: { hostname: 'm.example.com' }, network: { interfaces: [{ name: 'X', match: 'ens4; rm -rf /', dhcp: true }] } }, 'bad'),
    /must be interface names or patterns/,
  );
});

t.test('interfaceconfig at the console, commit, and network-apply writes exactly the committed interfaces', async (t) => {
  const state = tempState(t, 'appliance-network-');
  const networkd = join(state, 'networkd');
  mkdirSync(networkd);
  writeFileSync(join(networkd, '10-appliance-Old.network'), 'stale\n');
  writeFileSync(join(networkd, '20-wired.network'), 'not ours\n');
  const env = { ...process.env, APPLIANCE_STATE_DIR: state };
  const session = await consoleSession({ env }, [
    'interfaceconfig new Mgmt match=ens4 addresses=192.0.2.10/24,2001:db8::10/64 gateway=192.0.2.1 mtu=1400',
    'interfaceconfig new Bad match=ens5 addresses=192.0.2.300/24',
    'systemconfig edit dnsServers=192.0.2.53',
    'commit management interface',
    'exit',
  ]);
  t.match(session.output, /addresses/, 'a bad address is named');
  t.match(session.output, /Committed revision \d+/);
  const apply = () => execFileSync(process.execPath, [networkApply, '--no-reload'], { env: { ...env, NETWORKD_DIR: networkd }, encoding: 'utf8' });
  t.match(apply(), /wrote 10-appliance-Data1\.network, 10-appliance-Mgmt\.network/);
  t.same(readdirSync(networkd).sort(), ['10-appliance-Data1.network', '10-appliance-Mgmt.network', '20-wired.network'], 'the stale file is gone, other files are left alone');
  const mgmt = readFileSync(join(networkd, '10-appliance-Mgmt.network'), 'utf8');
  t.match(mgmt, /\[Match\]\nName=ens4\n\n\[Link\]\nMTUBytes=1400\n\n\[Network\]\nDHCP=no\n/);
  t.match(mgmt, /Address=192\.0\.2\.10\/24\nAddress=2001:db8::10\/64\nGateway=192\.0\.2\.1\nDNS=192\.0\.2\.53\n/);
  t.notOk(existsSync(join(networkd, '10-appliance-Bad.network')), 'the refused interface was never written');
  t.match(apply(), /interface settings unchanged/, 'a second run changes nothing (no needless networkd reload)');
});
