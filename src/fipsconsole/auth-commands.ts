// `ldapconfig test` (the appliance's Test Query) and `authreport` (the inbound SMTP
// authentication report): words to the administration core's operations
// (src/admin/ldap-test.ts, report.ts) and their results to text.

import { candidateConfig } from '../admin/changes.js';
import { testLdapQuery } from '../admin/ldap-test.js';
import { authReport, authReportCsv, type ReportGrouping, type ReportRange, reportCounterLabels, reportCounters } from '../admin/report.js';
import type { CertificateFields } from '../mail/certificate-fields.js';
import { certificateFields } from '../os/config/schema.js';
import { actorOf, type ConsoleContext, configurationFolder } from './commands.js';
import { UsageError } from './errors.js';

export const ldapTest = {
  usage: 'QUERY user=NAME [password]   (SMTP AUTH query: "password" asks for it and binds with it)\nQUERY cn=… sn=…   (certificate query: the certificate fields)',
  async run([name, ...words]: string[], ctx: ConsoleContext): Promise<void> {
    const actor = actorOf(ctx);
    const query = candidateConfig(ctx.runtime, actor).ldap.queries.find((q) => q.name === name);
    const values = Object.fromEntries(words.filter((w) => w.includes('=')).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
    const certificate = query?.type === 'certificate';
    const stray = words.find((w) => !w.includes('=') && !(w === 'password' && !certificate));
    if (query && stray !== undefined) {
      throw new UsageError(
        certificate
          ? `"${stray}" is not a certificate field; give fields as ${certificateFields.join('=…, ')}=…`
          : `"${stray}" is not understood: to check a password write the word "password" and type it when asked (it is not echoed), or password=SECRET`,
      );
    }
    const wantsPassword = values.password !== undefined || words.includes('password');
    const input = certificate
      ? { certificate: Object.fromEntries(Object.entries(values).filter(([k]) => (certificateFields as readonly string[]).includes(k))) as Partial<CertificateFields> }
      : { user: values.user ?? '', ...(query && wantsPassword ? { password: values.password ?? (await ctx.askSecret(`Password of ${values.user ?? ''}`)) } : {}) };
    const result = await testLdapQuery(ctx.runtime, actor, { query: name ?? '', ...input });
    for (const search of result.searches) {
      ctx.print(`${search.step}: ${search.filter}\n  server ${search.server} at ${search.host}: ${search.entries.length} entr${search.entries.length === 1 ? 'y' : 'ies'}`);
      for (const entry of search.entries) ctx.print(`    ${JSON.stringify(entry)}`);
    }
    ctx.print(`Result: ${result.result.outcome} (${result.elapsedMs} ms)`);
  },
};

export const authreport = {
  summary: 'the inbound SMTP authentication report: certificate and SMTP AUTH logins, fallbacks, messages',
  usage: '[hour|day|week|30days] [user|domain|ip] [csv FILE]',
  run(args: string[], ctx: ConsoleContext): void {
    const query = { range: (args[0] ?? 'day') as ReportRange, groupBy: (args[1] ?? 'user') as ReportGrouping };
    const actor = actorOf(ctx);
    if (args[2] === 'csv') {
      if (!args[3]) throw new UsageError('name a .csv file in the configuration folder');
      const { csv } = authReportCsv(ctx.runtime, actor, query);
      const path = configurationFolder(ctx).write(args[3], csv, '.csv');
      ctx.print(`Report written to ${path}`);
      return;
    }
    const report = authReport(ctx.runtime, actor, query);
    ctx.print(`Inbound SMTP authentication, last ${report.range}:`);
    ctx.print(reportCounters.map((c) => `  ${reportCounterLabels[c]}: ${report.totals[c]}`).join('\n'));
    if (report.rows.length) {
      ctx.print(`\nBy ${report.groupBy}:`);
      for (const row of report.rows) ctx.print(`  ${row.key || '(none)'}  ${reportCounters.map((c) => `${reportCounterLabels[c]} ${row[c]}`).join(', ')}`);
    }
  },
};
