// Rules for the FIPS Officer password (the token's security-officer PIN).
export const officerPasswordMaxLength = 255; // SoftHSM2's largest PIN

const classes: [RegExp, string][] = [
  [/[a-z]/, 'a lower-case letter'],
  [/[A-Z]/, 'an upper-case letter'],
  [/[0-9]/, 'a digit'],
  [/[^A-Za-z0-9]/, 'a character that is neither letter nor digit'],
];

/** Every rule the password breaks, in words; empty when it is acceptable. */
export function officerPasswordProblems(password: string, minLength: number): string[] {
  const problems: string[] = [];
  if (password.length < minLength) problems.push(`must be at least ${minLength} characters long`);
  if (password.length > officerPasswordMaxLength) problems.push(`must be at most ${officerPasswordMaxLength} characters long`);
  for (const [pattern, what] of classes) if (!pattern.test(password)) problems.push(`must contain ${what}`);
  return problems;
}
