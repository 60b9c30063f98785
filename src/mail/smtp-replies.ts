// Replies the gateway sends, each with the RFC 3463 enhanced status code that
// fits the situation. The text starts with the enhanced code, and the patched
// smtp-server (smtp-server-patches.ts) sends it as it is.
export interface SmtpReplyError extends Error {
  responseCode: number;
}

export function smtpError(code: number, enhanced: string, text: string): SmtpReplyError {
  return Object.assign(new Error(`${enhanced} ${text}`), { responseCode: code });
}

export const replies = {
  tlsRequired: () => smtpError(530, '5.7.0', 'Must issue a STARTTLS command first'),
  tlsUnavailable: () => smtpError(454, '4.7.0', 'TLS not available due to temporary reason'),
  tlsRequiredForAuth: () => smtpError(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  authRequired: () => smtpError(530, '5.7.0', 'Authentication required'),
  relayDenied: () => smtpError(550, '5.7.1', 'Relaying denied'),
  messageTooBig: (limit: number) => smtpError(552, '5.3.4', `Message size exceeds fixed maximum message size of ${limit} bytes`),
  tooManyRecipients: (limit: number) => smtpError(452, '4.5.3', `Too many recipients: at most ${limit} per message`),
  tooManyMessages: (limit: number) => smtpError(421, '4.7.0', `Too many messages in this connection (at most ${limit}); reconnect to send more`),
  tooManyConnections: () => smtpError(421, '4.3.2', 'Too many connections, try again later'),
  accessDenied: () => smtpError(554, '5.7.1', 'Access denied'),
  certificateRequired: () => smtpError(554, '5.7.1', 'A valid client certificate is required'),
  certificateRejected: (reason: string) => smtpError(554, '5.7.1', `Client certificate rejected: ${reason}`),
  invalidCredentials: () => smtpError(535, '5.7.8', 'Authentication credentials invalid'),
  authUnavailable: () => smtpError(454, '4.7.0', 'Temporary authentication failure, try again later'),
  spoolFull: () => smtpError(452, '4.3.1', 'Insufficient system storage, try again later'),
  spoolFailure: () => smtpError(451, '4.3.0', 'Local error in processing; the message was not accepted, try again later'),
};
