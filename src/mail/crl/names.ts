// Distinguished names for people, written as every log line writes them (RFC 4514,
// src/hsm/x509-name.ts): "CN=DoD Root CA 3,OU=PKI,O=U.S. Government".
export { formatName as describeName } from '../../hsm/x509-name.js';
