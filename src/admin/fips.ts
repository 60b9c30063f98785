// FIPS management: the operations both front ends call, in one place.
//   fips-officer.ts  Officer login, password, FIPS initialisation, status, backup and restore
//   hsm-objects.ts   keys, CSRs, certificates, DKIM keys (the crypto user, in this process)
//   crypto-user.ts   the crypto user's session pool, one per process
export { closeCryptoUser } from './crypto-user.js';
export { fipsModeNeeded } from './fips-access.js';
export {
  type BackupProgress,
  type BackupRequest,
  changeOfficerPassword,
  type FipsStatus,
  fipsBackup,
  fipsRestore,
  fipsStatus,
  HsmZeroized,
  initialiseHsm,
  OfficerPasswordRefused,
  officerLogin,
  suggestedBackupName,
} from './fips-officer.js';
export {
  type CertificateSummary,
  type DkimTxtRecord,
  deleteKey,
  exportCertificate,
  generateDkim,
  generateKey,
  importCertificate,
  type KeyAlgorithm,
  type KeySummary,
  keyAlgorithmNames,
  listCertificates,
  listKeys,
  makeCsr,
  selfSign,
} from './hsm-objects.js';
