// Mail addresses and domains, one way for the whole appliance: the receiving
// side (accepted domains, the report's sender domain), delivery (routes, DKIM
// profiles) and the mail logs all compare domains in the same form.

/** A domain as compared everywhere: trimmed, lower-cased, without the root's trailing dot ("Example.COM." is "example.com"). */
export function normalDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

/** The domain of an address, normalised; '' for an address without one ("postmaster"). */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : normalDomain(address.slice(at + 1));
}
