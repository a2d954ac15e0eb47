import { z } from 'zod';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { NotConnectedError } from '../../domain/connections/store.js';
import type { ProviderConfig, ProviderName } from '../../lib/config.js';
import { asSystem, withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import type { Logger } from '../../lib/logger.js';
import { createSendgridMailer } from '../../providers/sendgrid.js';
import {
  createSession,
  hashToken,
  newToken,
  newUserId,
  ROLE_SCOPES,
  type CreatedSession,
  type Role,
} from '../sessions.js';
import { AttemptLimiter } from '../users/attempts.js';
import { burnVerify, hashPassword, verifyPassword } from '../users/passwords.js';
import { badInput, conflict, notFound } from './errors.js';

/**
 * Tenant users: invites, sign-in, sign-out, password reset, roles. REST adapts these; they throw
 * ServiceError (400/404/409) or AuthRefused (401/429, which REST answers as is).
 */

export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(320)
  .pipe(z.email({ message: 'not an email address' }))
  // The document states the check made after trimming (the input side of a pipe has none of its own).
  .meta({ pattern: z.regexes.email.source });
/** Long enough to resist guessing; bounded so hashing stays cheap for a hostile caller. */
export const Password = z
  .string()
  .min(12, 'at least 12 characters')
  .max(256, 'at most 256 characters')
  .refine((p) => p.trim().length > 0, 'must not be blank');

export const INVITE_TTL_MS = 7 * 24 * 3_600_000;
export const RESET_TTL_MS = 30 * 60_000;
/** Wrong passwords per email + IP before sign-in answers 429, and for how long. */
export const SIGNIN_MAX_FAILURES = 5;
export const SIGNIN_WINDOW_MS = 15 * 60_000;
/** Reset requests per email + IP in the same window. */
export const RESET_MAX_REQUESTS = 5;
/** Accounts one address may have across tenants that sign-in tries without a tenant id. */
const MAX_ACCOUNTS_PER_EMAIL = 10;
/** Who sends account email in sandbox mode when the tenant has no SendGrid connection of its own. */
export const SANDBOX_SENDER = 'no-reply@switchboard.example';

export class AuthRefused extends Error {
  override readonly name = 'AuthRefused';
  constructor(
    readonly status: 401 | 403 | 429,
    message: string,
    readonly retryAfterSec?: number,
  ) {
    super(message);
  }
}

export interface UserDeps {
  pool: Pool;
  access: ProviderAccess;
  providers: Record<ProviderName, ProviderConfig>;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  limits: { signIn: AttemptLimiter; reset: AttemptLimiter };
}

export function createLimits(): UserDeps['limits'] {
  const opts = { windowMs: SIGNIN_WINDOW_MS, capacity: 10_000 };
  return {
    signIn: new AttemptLimiter({ ...opts, max: SIGNIN_MAX_FAILURES }),
    reset: new AttemptLimiter({ ...opts, max: RESET_MAX_REQUESTS }),
  };
}

export interface UserView {
  id: string;
  tenantId: string;
  email: string;
  role: Role;
  createdAt: string;
}
interface UserRow {
  id: string;
  tenant_id: string;
  email: string;
  role: Role;
  password_hash: string;
  created_at: Date;
}
const view = (r: Omit<UserRow, 'password_hash'>): UserView => ({
  id: r.id,
  tenantId: r.tenant_id,
  email: r.email,
  role: r.role,
  createdAt: r.created_at.toISOString(),
});

/** Sends an account email (invite, reset) as the tenant; false (and a log line saying why) when it cannot. */
async function sendAccountEmail(
  deps: UserDeps,
  tenantId: string,
  kind: 'invite' | 'password-reset',
  email: { to: string; subject: string; text: string },
): Promise<boolean> {
  const sandbox = deps.access.mode('sendgrid') === 'sandbox';
  let provider: ProviderConfig | undefined;
  let from: string | undefined;
  try {
    const sg = await deps.access.sendgrid(tenantId);
    provider = { mode: sg.mode, baseUrl: sg.baseUrl, apiKey: sg.apiKey };
    from = sg.sender?.email ?? (sandbox ? SANDBOX_SENDER : undefined);
    if (!from) {
      deps.log.warn({ tenantId, kind }, 'no account email sent: the platform SendGrid key has no verified sender');
      return false;
    }
  } catch (err) {
    if (!(err instanceof NotConnectedError)) throw err;
    if (!sandbox) {
      deps.log.warn(
        { tenantId, kind, reason: err.message },
        'no account email sent: the tenant has no email connection',
      );
      return false;
    }
    // Sandbox mode: the local simulator stands in for the tenant's account, so the email can be read.
    provider = deps.providers.sendgrid;
    from = SANDBOX_SENDER;
  }
  try {
    await createSendgridMailer(provider).send({
      to: email.to,
      from: { email: from, name: 'Switchboard' },
      subject: email.subject,
      text: email.text,
      customArgs: { sb_tenant: tenantId, sb_kind: kind },
    });
    return true;
  } catch (err) {
    deps.log.warn({ tenantId, kind, err: (err as Error).message }, 'account email failed');
    return false;
  }
}

// ── Invites ─────────────────────────────────────────────────────────────────────────────────────

export interface CreatedInvite {
  id: string;
  tenantId: string;
  email: string;
  role: Role;
  expiresAt: string;
  /** The one-time link (shown once; only the token's hash is stored). */
  inviteUrl: string;
  token: string;
  emailed: boolean;
}

export async function createInvite(
  deps: UserDeps,
  tenantId: string,
  input: { email: string; role: Role },
  invitedBy: string,
  publicUrl: string,
): Promise<CreatedInvite> {
  const tenant = await withTenant(deps.pool, tenantId, (c) =>
    c.query<{ name: string }>('select name from tenants where id = $1', [tenantId]),
  );
  if (!tenant.rows[0]) throw notFound(`tenant '${tenantId}' does not exist`);
  const token = newToken('sbi');
  const id = newUserId('inv');
  const expiresAt = await withTenant(deps.pool, tenantId, async (c) => {
    const taken = await c.query('select 1 from users where tenant_id = $1 and email = $2', [tenantId, input.email]);
    if (taken.rowCount) throw conflict(`'${input.email}' is already a user of this tenant`);
    // One open invite per address: a new one replaces it.
    await c.query(
      `update user_invites set revoked_at = now()
        where tenant_id = $1 and email = $2 and accepted_at is null and revoked_at is null`,
      [tenantId, input.email],
    );
    const { rows } = await c.query<{ expires_at: Date }>(
      `insert into user_invites (id, tenant_id, email, role, token_hash, invited_by, expires_at)
       values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) returning expires_at`,
      [id, tenantId, input.email, input.role, hashToken(token), invitedBy, INVITE_TTL_MS / 1000],
    );
    return rows[0]!.expires_at;
  });
  const inviteUrl = `${publicUrl}/console/invite?token=${encodeURIComponent(token)}`;
  const emailed = await sendAccountEmail(deps, tenantId, 'invite', {
    to: input.email,
    subject: `You are invited to ${tenant.rows[0].name} on Switchboard`,
    text:
      `You have been invited to ${tenant.rows[0].name} on Switchboard as ${input.role}.\n\n` +
      `Choose your password here (the link works once, until ${expiresAt.toISOString()}):\n${inviteUrl}\n`,
  });
  deps.log.info({ tenantId, inviteId: id, role: input.role, invitedBy, emailed }, 'user invited');
  return {
    id,
    tenantId,
    email: input.email,
    role: input.role,
    expiresAt: expiresAt.toISOString(),
    inviteUrl,
    token,
    emailed,
  };
}

/** Accepting an invite creates the user with the password chosen; the link then stops working. */
export async function acceptInvite(deps: UserDeps, input: { token: string; password: string }): Promise<UserView> {
  // The invite token is all the caller has: its tenant is found across tenants.
  const { rows } = await asSystem(deps.pool, (c) =>
    c.query<{ id: string; tenant_id: string }>(
      `select id, tenant_id from user_invites
        where token_hash = $1 and accepted_at is null and revoked_at is null and expires_at > now()`,
      [hashToken(input.token)],
    ),
  );
  const invite = rows[0];
  if (!invite) throw badInput('token', 'this invite link is invalid, used or expired');
  const passwordHash = await hashPassword(input.password);
  const user = await withTenant(deps.pool, invite.tenant_id, async (c) => {
    // Locked and re-checked: two accepts of one link at once make one user.
    const locked = await c.query<{ email: string; role: Role }>(
      `select email, role from user_invites
        where id = $1 and accepted_at is null and revoked_at is null and expires_at > now() for update`,
      [invite.id],
    );
    const inv = locked.rows[0];
    if (!inv) throw badInput('token', 'this invite link is invalid, used or expired');
    const created = await c.query<Omit<UserRow, 'password_hash'>>(
      `insert into users (id, tenant_id, email, password_hash, role) values ($1, $2, $3, $4, $5)
       on conflict (tenant_id, email) do nothing returning id, tenant_id, email, role, created_at`,
      [newUserId('usr'), invite.tenant_id, inv.email, passwordHash, inv.role],
    );
    if (!created.rows[0]) throw conflict(`'${inv.email}' is already a user of this tenant`);
    await c.query('update user_invites set accepted_at = now() where id = $1', [invite.id]);
    return view(created.rows[0]);
  });
  deps.log.info({ tenantId: user.tenantId, userId: user.id, role: user.role }, 'invite accepted');
  return user;
}

// ── Sign-in and sign-out ────────────────────────────────────────────────────────────────────────

export interface SignedIn {
  user: UserView;
  scopes: string[];
  session: CreatedSession;
}

const BAD_CREDENTIALS = 'wrong email or password';

/**
 * Signs a user in. An address may be a user of several tenants: with `tenantId` only that
 * tenant's account is tried; without it every account of the address is tried, and when the
 * password opens more than one the answer is 409 asking for `tenantId` (naming none). An unknown
 * address, a wrong password and a wrong tenant all answer the same 401, after the same argon2 work.
 */
export async function signIn(
  deps: UserDeps,
  input: { email: string; password: string; tenantId?: string },
  ip: string,
): Promise<SignedIn> {
  const limitKey = `${input.email}\u0000${ip}`;
  const wait = deps.limits.signIn.blockedFor(limitKey);
  if (wait > 0) throw new AuthRefused(429, 'too many failed sign-ins; try again later', wait);
  // Sign-in names an email, not a tenant: its accounts are found across tenants.
  const { rows } = await asSystem(deps.pool, (c) =>
    c.query<UserRow>(
      `select id, tenant_id, email, role, password_hash, created_at from users
        where email = $1 and ($2::text is null or tenant_id = $2) order by created_at limit $3`,
      [input.email, input.tenantId ?? null, MAX_ACCOUNTS_PER_EMAIL],
    ),
  );
  const opened: UserRow[] = [];
  if (rows.length === 0) await burnVerify(input.password);
  for (const row of rows) if (await verifyPassword(row.password_hash, input.password)) opened.push(row);
  if (opened.length === 0) {
    deps.limits.signIn.hit(limitKey);
    throw new AuthRefused(401, BAD_CREDENTIALS);
  }
  if (opened.length > 1) {
    throw conflict('this email signs in to more than one tenant: send tenantId too');
  }
  deps.limits.signIn.clear(limitKey);
  const user = opened[0]!;
  const session = await createSession(deps.pool, user.tenant_id, user.id);
  // Housekeeping: the user's sessions dead for a month go (recent ones stay, to show what happened).
  void deps.pool
    .query(
      `delete from sessions where user_id = $1 and coalesce(revoked_at, expires_at) < now() - interval '30 days'`,
      [user.id],
    )
    .catch(() => undefined);
  deps.log.info({ tenantId: user.tenant_id, userId: user.id, sessionId: session.id }, 'user signed in');
  return { user: view(user), scopes: ROLE_SCOPES[user.role], session };
}

export async function signOut(deps: UserDeps, tenantId: string, sessionId: string): Promise<void> {
  await withTenant(deps.pool, tenantId, (c) =>
    c.query('update sessions set revoked_at = coalesce(revoked_at, now()) where id = $1', [sessionId]),
  );
}

export async function getUser(deps: UserDeps, tenantId: string, userId: string): Promise<UserView> {
  const { rows } = await withTenant(deps.pool, tenantId, (c) =>
    c.query<Omit<UserRow, 'password_hash'>>(
      'select id, tenant_id, email, role, created_at from users where tenant_id = $1 and id = $2',
      [tenantId, userId],
    ),
  );
  if (!rows[0]) throw notFound(`no user '${userId}' in this tenant`);
  return view(rows[0]);
}

// ── Passwords ───────────────────────────────────────────────────────────────────────────────────

/**
 * A reset link for every account of the address (in `tenantId` only, when given), each mailed to
 * that address. The caller answers 202 at once, whatever happens here: nothing tells whether the
 * address has an account. In sandbox mode the link is also logged (info), deliberately.
 */
export async function requestPasswordReset(
  deps: UserDeps,
  input: { email: string; tenantId?: string },
  ip: string,
  publicUrl: string,
): Promise<() => Promise<void>> {
  const limitKey = `${input.email}\u0000${ip}`;
  const wait = deps.limits.reset.blockedFor(limitKey);
  if (wait > 0) throw new AuthRefused(429, 'too many reset requests; try again later', wait);
  deps.limits.reset.hit(limitKey);
  // The work runs after the answer, so its duration says nothing either.
  return async () => {
    // A reset names an email, not a tenant: its accounts are found across tenants.
    const { rows } = await asSystem(deps.pool, (c) =>
      c.query<{ id: string; tenant_id: string; tenant_name: string }>(
        `select u.id, u.tenant_id, t.name as tenant_name from users u join tenants t on t.id = u.tenant_id
          where u.email = $1 and ($2::text is null or u.tenant_id = $2) order by u.created_at limit $3`,
        [input.email, input.tenantId ?? null, MAX_ACCOUNTS_PER_EMAIL],
      ),
    );
    if (!rows.length) {
      deps.log.info({ tenantId: input.tenantId }, 'password reset asked for an address with no account; nothing sent');
      return;
    }
    for (const user of rows) {
      const token = newToken('sbr');
      const expiresAt = await withTenant(deps.pool, user.tenant_id, async (c) => {
        const r = await c.query<{ expires_at: Date }>(
          `insert into password_resets (id, tenant_id, user_id, token_hash, expires_at)
           values ($1, $2, $3, $4, now() + make_interval(secs => $5)) returning expires_at`,
          [newUserId('rst'), user.tenant_id, user.id, hashToken(token), RESET_TTL_MS / 1000],
        );
        return r.rows[0]!.expires_at;
      });
      const resetUrl = `${publicUrl}/console/reset?token=${encodeURIComponent(token)}`;
      if (deps.access.mode('sendgrid') === 'sandbox') {
        // Sandbox mode only: the link in the log, so a developer can follow it without email.
        deps.log.info({ tenantId: user.tenant_id, userId: user.id, resetUrl }, 'password reset link (sandbox mode)');
      }
      const emailed = await sendAccountEmail(deps, user.tenant_id, 'password-reset', {
        to: input.email,
        subject: `Reset your Switchboard password (${user.tenant_name})`,
        text:
          `Someone asked to reset the password of your Switchboard account at ${user.tenant_name}.\n\n` +
          `Choose a new password here (the link works once, until ${expiresAt.toISOString()}):\n${resetUrl}\n\n` +
          `If it was not you, ignore this email: your password stays as it is.\n`,
      });
      deps.log.info({ tenantId: user.tenant_id, userId: user.id, emailed }, 'password reset requested');
    }
  };
}

/** Sets the new password and ends every session of the user; the link works once. */
export async function confirmPasswordReset(deps: UserDeps, input: { token: string; password: string }): Promise<void> {
  // The reset token is all the caller has: its tenant is found across tenants.
  const { rows } = await asSystem(deps.pool, (c) =>
    c.query<{ id: string; tenant_id: string; user_id: string }>(
      `select id, tenant_id, user_id from password_resets
        where token_hash = $1 and used_at is null and expires_at > now()`,
      [hashToken(input.token)],
    ),
  );
  const reset = rows[0];
  if (!reset) throw badInput('token', 'this reset link is invalid, used or expired');
  const passwordHash = await hashPassword(input.password);
  await withTenant(deps.pool, reset.tenant_id, async (c) => {
    const locked = await c.query(
      'select 1 from password_resets where id = $1 and used_at is null and expires_at > now() for update',
      [reset.id],
    );
    if (!locked.rowCount) throw badInput('token', 'this reset link is invalid, used or expired');
    await setPassword(c, reset.user_id, passwordHash);
  });
  deps.log.info({ tenantId: reset.tenant_id, userId: reset.user_id }, 'password reset; every session ended');
}

/** The new hash, every outstanding reset link used up, every session revoked. */
async function setPassword(c: PoolClient, userId: string, passwordHash: string) {
  await c.query('update users set password_hash = $2, password_changed_at = now(), updated_at = now() where id = $1', [
    userId,
    passwordHash,
  ]);
  await c.query('update password_resets set used_at = now() where user_id = $1 and used_at is null', [userId]);
  await c.query('update sessions set revoked_at = now() where user_id = $1 and revoked_at is null', [userId]);
}

/** A signed-in user changes their password: every session ends, and the caller gets a new one. */
export async function changePassword(
  deps: UserDeps,
  tenantId: string,
  userId: string,
  input: { currentPassword: string; newPassword: string },
  ip: string,
): Promise<CreatedSession> {
  const limitKey = `user:${userId}\u0000${ip}`;
  const wait = deps.limits.signIn.blockedFor(limitKey);
  if (wait > 0) throw new AuthRefused(429, 'too many wrong passwords; try again later', wait);
  const { rows } = await withTenant(deps.pool, tenantId, (c) =>
    c.query<{ password_hash: string }>('select password_hash from users where tenant_id = $1 and id = $2', [
      tenantId,
      userId,
    ]),
  );
  if (!rows[0] || !(await verifyPassword(rows[0].password_hash, input.currentPassword))) {
    deps.limits.signIn.hit(limitKey);
    throw new AuthRefused(403, 'currentPassword: wrong password');
  }
  const passwordHash = await hashPassword(input.newPassword);
  await withTenant(deps.pool, tenantId, (c) => setPassword(c, userId, passwordHash));
  deps.log.info({ tenantId, userId }, 'password changed; every session ended');
  return createSession(deps.pool, tenantId, userId);
}

// ── Managing users ──────────────────────────────────────────────────────────────────────────────

export interface InviteView {
  id: string;
  email: string;
  role: Role;
  invitedBy: string;
  expiresAt: string;
  createdAt: string;
}

export async function listUsers(
  deps: UserDeps,
  tenantId: string,
): Promise<{ users: UserView[]; invites: InviteView[] }> {
  return withTenant(deps.pool, tenantId, async (c) => {
    const users = await c.query<Omit<UserRow, 'password_hash'>>(
      'select id, tenant_id, email, role, created_at from users where tenant_id = $1 order by created_at',
      [tenantId],
    );
    const invites = await c.query<{
      id: string;
      email: string;
      role: Role;
      invited_by: string;
      expires_at: Date;
      created_at: Date;
    }>(
      `select id, email, role, invited_by, expires_at, created_at from user_invites
        where tenant_id = $1 and accepted_at is null and revoked_at is null and expires_at > now()
        order by created_at`,
      [tenantId],
    );
    return {
      users: users.rows.map(view),
      invites: invites.rows.map((r) => ({
        id: r.id,
        email: r.email,
        role: r.role,
        invitedBy: r.invited_by,
        expiresAt: r.expires_at.toISOString(),
        createdAt: r.created_at.toISOString(),
      })),
    };
  });
}

/**
 * Locks the user and the tenant's owners in one statement (id order, so two changes at once queue
 * up rather than deadlock): the user's role, and whether they are the only owner.
 */
async function lockForChange(c: PoolClient, tenantId: string, userId: string) {
  const { rows } = await c.query<{ id: string; role: Role }>(
    `select id, role from users where tenant_id = $1 and (role = 'owner' or id = $2) order by id for update`,
    [tenantId, userId],
  );
  const user = rows.find((r) => r.id === userId);
  if (!user) throw notFound(`no user '${userId}' in this tenant`);
  const lastOwner = user.role === 'owner' && rows.filter((r) => r.role === 'owner').length === 1;
  return { role: user.role, lastOwner };
}
const LAST_OWNER = 'this is the last owner of the tenant: make another user owner first';

export async function setRole(deps: UserDeps, tenantId: string, userId: string, role: Role): Promise<UserView> {
  return withTenant(deps.pool, tenantId, async (c) => {
    const { lastOwner } = await lockForChange(c, tenantId, userId);
    if (lastOwner && role !== 'owner') throw conflict(LAST_OWNER);
    const { rows } = await c.query<Omit<UserRow, 'password_hash'>>(
      `update users set role = $3, updated_at = now() where tenant_id = $1 and id = $2
       returning id, tenant_id, email, role, created_at`,
      [tenantId, userId, role],
    );
    deps.log.info({ tenantId, userId, role }, 'user role changed');
    return view(rows[0]!);
  });
}

/** Removes a user; their sessions and reset links go with them. */
export async function removeUser(deps: UserDeps, tenantId: string, userId: string): Promise<void> {
  await withTenant(deps.pool, tenantId, async (c) => {
    const { lastOwner } = await lockForChange(c, tenantId, userId);
    if (lastOwner) throw conflict(LAST_OWNER);
    await c.query('delete from users where tenant_id = $1 and id = $2', [tenantId, userId]);
  });
  deps.log.info({ tenantId, userId }, 'user removed');
}
