// An error the user can act on: printed as it is, without "Internal error".
export class UsageError extends Error {}
