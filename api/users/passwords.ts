import { hash, verify, type Algorithm } from '@node-rs/argon2';

/**
 * Passwords are stored as argon2id PHC strings (@node-rs/argon2, Rust's `argon2` crate). Parameters:
 * OWASP's first recommended set, m = 19 MiB, t = 2, p = 1 (a few tens of ms here). A verify reads
 * the parameters from the stored string, so raising them later leaves old hashes valid.
 */
const OPTIONS = {
  algorithm: 2 as Algorithm, // Algorithm.Argon2id (a const enum, which isolatedModules cannot inline)
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;
/** Spends the time a real verify takes, so an unknown email answers as slowly as a wrong password. */
export async function burnVerify(password: string): Promise<void> {
  dummy ??= hashPassword('switchboard-no-such-user');
  await verifyPassword(await dummy, password);
}
