// `ldapconfig test` (the appliance's Test Query) and `authreport` (the inbound
// SMTP authentication report). Test Query runs here, against the pending
// configuration, so a query can be tried before it is committed.
import { LdapSmtpAuthenticator } from '../mail/auth/authenticator.js';
import { AuthReportStore, authReportPath, type ReportGrouping, type ReportRange, reportCounterLabels, reportCounters, reportRanges } from '../mail/auth/report-store.js';
import { testQuery } from '../mail/auth/test-query.js';
import type { CertificateFields } from '../mail/certificate-fields.js';
import { certificateFields } from '../os/config/schema.js';
import { type ConsoleContext, configurationFolder } from './commands.js';
import { UsageError } from './errors.js';

export const ldapTest = {
  usage: 'QUERY user=NAME [password]   (SMTP AUTH query: "password" asks for it and binds with it)\nQUERY cn=… sn=…   (certificate query: the certificate fields)',
  async run([name, ...words]: string[], ctx: ConsoleContext): Promise<void> {
    const query = ctx.candidate.config.ldap.queries.find((q) => q.name === name);
    if (!query) throw new UsageError(`no LDAP query "${name ?? ''}"; queries: ${ctx.candidate.config.ldap.queries.map((q) => q.name).join(', ') || 'none'}`);
    const values = Object.fromEntries(words.filter((w) => w.includes('=')).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
    const stray = words.find((w) => !w.includes('=') && !(w === 'password' && query.type !== 'certificate'));
    if (stray !== undefined) {
      throw new UsageError(
        query.type === 'certificate'
          ? `"${stray}" is not a certificate field; give fields as ${certificateFields.join('=…, ')}=…`
          : `"${stray}" is not understood: to check a password write the word "password" and type it when asked (it is not echoed), or password=SECRET`,
      );
    }
    const wantsPassword = values.password !== undefined || words.includes('password');
    const input =
      query.type === 'certificate'
        ? { certificate: Object.fromEntries(Object.entries(values).filter(([k]) => (certificateFields as readonly string[]).includes(k))) as Partial<CertificateFields> }
        : { user: values.user ?? '', ...(wantsPassword ? { password: values.password ?? (await ctx.askSecret(`Password of ${values.user ?? ''}`)) } : {}) };
    const authenticator = new LdapSmtpAuthenticator(ctx.candidate.config, { logs: ctx.runtime.logs });
    const result = await testQuery(authenticator, query.name, input);
    for (const search of result.searches) {
      ctx.print(`${search.step}: ${search.filter}\n  server ${search.server} at ${search.host}: ${search.entries.length} entr${search.entries.length === 1 ? 'y' : 'ies'}`);
      for (const entry of search.entries) ctx.print(`    ${JSON.stringify(entry)}`);
    }
    ctx.print(`Result: ${result.outcome} (${result.elapsedMs} ms)`);
  },
};

export const authreport = {
  summary: 'the inbound SMTP authentication report: certificate and SMTP AUTH logins, fallbacks, messages',
  usage: '[hour|day|week|30days] [user|domain|ip] [csv FILE]',
  run(args: string[], ctx: ConsoleContext): void {
    const range = (args[0] ?? 'day') as ReportRange;
    const grouping = (args[1] ?? 'user') as ReportGrouping;
    if (!(range in reportRanges)) throw new UsageError(`the range is one of ${Object.keys(reportRanges).join(', ')}`);
    if (!['user', 'domain', 'ip'].includes(grouping)) throw new UsageError('group by user, domain or ip');
    const store = new AuthReportStore(authReportPath(ctx.runtime.paths.root));
    try {
      if (args[2] === 'csv') {
        if (!args[3]) throw new UsageError('name a .csv file in the configuration folder');
        const path = configurationFolder(ctx).write(args[3], store.csv(range, grouping), '.csv');
        ctx.print(`Report written to ${path}`);
        return;
      }
      const totals = store.totals(range);
      ctx.print(`Inbound SMTP authentication, last ${range}:`);
      ctx.print(reportCounters.map((c) => `  ${reportCounterLabels[c]}: ${totals[c]}`).join('\n'));
      const rows = store.bySender(range, grouping, 50);
      if (rows.length) {
        ctx.print(`\nBy ${grouping}:`);
        for (const row of rows) ctx.print(`  ${row.key || '(none)'}  ${reportCounters.map((c) => `${reportCounterLabels[c]} ${row[c]}`).join(', ')}`);
      }
    } finally {
      store.close();
    }
  },
};
