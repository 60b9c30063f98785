// Small valid configurations to start tests from.
import { factoryConfig } from '../../src/os/config/factory.js';
import type { ApplianceConfig } from '../../src/os/config/schema.js';
import { parseConfig } from '../../src/os/config/validate.js';

export function sampleConfig(): ApplianceConfig {
  return parseConfig({
    ...factoryConfig('mail.example.com'),
    ldap: {
      servers: [{ name: 'corp', hosts: ['ldap.example.com'], baseDn: 'dc=example,dc=com' }],
      queries: [
        { name: 'cac', type: 'certificate', server: 'corp', fields: ['cn', 'sn'], queryString: '(&(caccn={cn})(cacserial={sn}))' },
        { name: 'auth', type: 'smtp-auth', server: 'corp', queryString: '(uid={u})', allowanceQueryString: '(&(uid={u})(|(!(caccn=*))(cacexempt=*)(cacemergency>={t})))' },
      ],
    },
    smtpAuth: {
      profiles: [
        {
          name: 'ldap-auth',
          type: 'ldap',
          query: 'auth',
          checkAllowance: true,
          whenDisallowed: 'reject',
          customResponse: { code: 525, text: 'Dear user, please use your CAC to send email.' },
        },
        { name: 'cac-auth', type: 'certificate', certificateQuery: 'cac', allowSmtpAuthFallback: true, fallbackProfile: 'ldap-auth' },
      ],
    },
    listeners: [
      {
        name: 'OutgoingMail',
        address: '127.0.0.1',
        port: 2587,
        hostname: 'mail.example.com',
        type: 'private',
        smtpAuthProfile: 'cac-auth',
        defaultPolicy: 'DEFAULT',
        policies: [
          { name: 'DEFAULT', connection: 'accept', maxMessageBytes: 10485760, maxRecipientsPerMessage: 100, maxMessagesPerConnection: 10, tls: 'preferred', smtpAuth: 'off' },
          { name: 'RELAYED', connection: 'relay', verifyClientCertificate: true, smtpAuth: 'required', requireTlsForSmtpAuth: true },
        ],
        hostAccessTable: [{ name: 'RELAYLIST', entries: ['10.0.0.0/8'], policy: 'RELAYED' }],
      },
    ],
  });
}
