// What an administration operation throws when the user can act on it: the
// message says what went wrong and what to do; `kind` lets a front end choose
// how to show it (a web page's status code, the console's plain line).
export type AdminErrorKind = 'invalid' | 'forbidden' | 'not-found' | 'conflict' | 'unavailable';

export class AdminError extends Error {
  constructor(
    message: string,
    readonly kind: AdminErrorKind = 'invalid',
  ) {
    super(message);
  }
}
