import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import type { ProviderConfig, ProviderName } from '../../lib/config.js';
import type { Pool } from '../../lib/db.js';
import { TenantId } from '../../lib/ids.js';
import type { TenantPrincipal } from '../apiKeys.js';
import { assertTenantAccess } from '../auth.js';
import { ErrorBody, fail } from '../http/errors.js';
import { clearSessionCookies, Role, setSessionCookies, type CookieSettings } from '../sessions.js';
import {
  acceptInvite,
  AuthRefused,
  changePassword,
  createInvite,
  createLimits,
  Email,
  listUsers,
  Password,
  removeUser,
  requestPasswordReset,
  confirmPasswordReset,
  setRole,
  signIn,
  signOut,
  type UserDeps,
} from '../services/users.js';

export interface UserRouteOptions {
  pool: Pool;
  access: ProviderAccess;
  providers: Record<ProviderName, ProviderConfig>;
  /** Where links point (`<publicUrl>/console/invite?token=…`); unset: the request's own origin. */
  publicUrl?: string;
}

const User = z.object({
  id: z.string(),
  tenantId: z.string(),
  email: z.string(),
  role: Role,
  createdAt: z.string(),
});
const Invite = z.object({
  id: z.string(),
  email: z.string(),
  role: Role,
  invitedBy: z.string(),
  expiresAt: z.string(),
  createdAt: z.string(),
});
const CreatedInvite = z.object({
  id: z.string(),
  tenantId: z.string(),
  email: z.string(),
  role: Role,
  expiresAt: z.string(),
  inviteUrl: z.string().describe('the one-time link to send the person (shown once)'),
  token: z.string().describe('the token in the link, for POST /v1/auth/invites/accept'),
  emailed: z.boolean().describe("whether the link also went out through the tenant's email connection"),
});
const InviteBody = z.strictObject({ email: Email, role: Role });
const Token = z.string().min(1).max(200);
const SignedIn = z.object({
  user: User,
  scopes: z.array(z.string()),
  csrfToken: z.string().describe('send it as x-csrf-token on every state-changing request made with the cookie'),
  expiresAt: z.string(),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody };

/**
 * Tenant users and their sign-in sessions: invites (by an owner, the tenant's admin key or the
 * platform admin key), accepting them, sign-in / sign-out with a session cookie, password reset by
 * a one-time link, roles. The routes adapt api/services/users.ts.
 */
export const userRoutes: FastifyPluginAsyncZod<UserRouteOptions> = async (app, opts) => {
  const deps: UserDeps = {
    pool: opts.pool,
    access: opts.access,
    providers: opts.providers,
    log: app.log.child({ component: 'users' }),
    limits: createLimits(),
  };
  const cookies: CookieSettings = { secure: opts.publicUrl?.startsWith('https:') ?? false };
  const publicUrlOf = (req: FastifyRequest) => opts.publicUrl ?? `${req.protocol}://${req.host}`;
  const refused = (reply: FastifyReply, err: unknown) => {
    if (!(err instanceof AuthRefused)) throw err;
    if (err.retryAfterSec) void reply.header('retry-after', String(err.retryAfterSec));
    return fail(reply, err.status, err.message);
  };
  /** Tenant routes: the platform admin key names the tenant in the path instead. */
  const tenantPrincipal = (req: FastifyRequest, reply: FastifyReply): TenantPrincipal | undefined => {
    if (req.principal?.kind === 'tenant') return req.principal;
    void fail(reply, 403, 'the platform admin key is not bound to a tenant; use /v1/admin/tenants/:tenantId/invites');
    return undefined;
  };
  const invitedBy = (req: FastifyRequest) => {
    const p = req.principal;
    if (p?.kind !== 'tenant') return 'admin';
    return p.userId ? `user:${p.userId}` : `key:${p.keyId}`;
  };

  app.post(
    '/v1/admin/tenants/:tenantId/invites',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Invite a person to a tenant (platform admin key, or the tenant’s admin key or owner)',
        tags: ['users'],
        params: z.object({ tenantId: TenantId }),
        body: InviteBody,
        response: { 201: CreatedInvite, ...errors },
      },
    },
    async (req, reply) => {
      if (!assertTenantAccess(req, reply, req.params.tenantId)) return reply;
      const invite = await createInvite(deps, req.params.tenantId, req.body, invitedBy(req), publicUrlOf(req));
      return reply.code(201).send(invite);
    },
  );

  app.post(
    '/v1/users/invites',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Invite a person to this tenant (an owner, or an admin key): a one-time link, valid 7 days',
        tags: ['users'],
        body: InviteBody,
        response: { 201: CreatedInvite, ...errors },
      },
    },
    async (req, reply) => {
      const p = tenantPrincipal(req, reply);
      if (!p) return reply;
      return reply.code(201).send(await createInvite(deps, p.tenantId, req.body, invitedBy(req), publicUrlOf(req)));
    },
  );

  app.get(
    '/v1/users',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "The tenant's users and open invites (owners and admin keys)",
        tags: ['users'],
        response: { 200: z.object({ users: z.array(User), invites: z.array(Invite) }), ...errors },
      },
    },
    async (req, reply) => {
      const p = tenantPrincipal(req, reply);
      if (!p) return reply;
      return listUsers(deps, p.tenantId);
    },
  );

  app.patch(
    '/v1/users/:id',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "Change a user's role (the last owner stays an owner)",
        tags: ['users'],
        params: z.object({ id: z.string().min(1).max(100) }),
        body: z.strictObject({ role: Role }),
        response: { 200: User, ...errors },
      },
    },
    async (req, reply) => {
      const p = tenantPrincipal(req, reply);
      if (!p) return reply;
      return setRole(deps, p.tenantId, req.params.id, req.body.role);
    },
  );

  app.delete(
    '/v1/users/:id',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Remove a user and end their sessions (not the last owner)',
        tags: ['users'],
        params: z.object({ id: z.string().min(1).max(100) }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      const p = tenantPrincipal(req, reply);
      if (!p) return reply;
      await removeUser(deps, p.tenantId, req.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/auth/invites/accept',
    {
      schema: {
        summary: 'Accept an invite: choose the password; the user exists from now on',
        tags: ['auth'],
        security: [],
        body: z.strictObject({ token: Token, password: Password }),
        response: { 201: User, ...errors },
      },
    },
    async (req, reply) => reply.code(201).send(await acceptInvite(deps, req.body)),
  );

  app.post(
    '/v1/auth/signin',
    {
      schema: {
        summary: 'Sign in: sets the session cookie (httpOnly) and returns the CSRF token',
        description:
          'An address with accounts in several tenants that the password opens answers 409: send tenantId. ' +
          'Unknown address and wrong password answer the same 401; 5 failures per email and IP answer 429 for 15 minutes.',
        tags: ['auth'],
        security: [],
        body: z.strictObject({
          email: Email,
          password: z.string().min(1).max(256),
          tenantId: TenantId.optional(),
        }),
        response: { 200: SignedIn, ...errors },
      },
    },
    async (req, reply) => {
      try {
        const signed = await signIn(deps, req.body, req.ip);
        setSessionCookies(reply, signed.session.token, cookies);
        return {
          user: signed.user,
          scopes: signed.scopes,
          csrfToken: signed.session.csrfToken,
          expiresAt: signed.session.expiresAt.toISOString(),
        };
      } catch (err) {
        return refused(reply, err);
      }
    },
  );

  app.post(
    '/v1/auth/signout',
    {
      preHandler: app.requireTenantKey(),
      schema: {
        summary: 'Sign out: the session stops working at once (cookie + x-csrf-token)',
        tags: ['auth'],
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      const p = req.principal as TenantPrincipal;
      if (!p.sessionId) return fail(reply, 403, 'signed in with an API key, not a session: nothing to sign out');
      await signOut(deps, p.tenantId, p.sessionId);
      clearSessionCookies(reply, cookies);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/auth/password',
    {
      preHandler: app.requireTenantKey(),
      schema: {
        summary: 'Change the signed-in user’s password: every session ends, this one gets a new cookie',
        tags: ['auth'],
        body: z.strictObject({ currentPassword: z.string().min(1).max(256), newPassword: Password }),
        response: { 200: z.object({ csrfToken: z.string(), expiresAt: z.string() }), ...errors },
      },
    },
    async (req, reply) => {
      const p = req.principal as TenantPrincipal;
      if (!p.userId) return fail(reply, 403, 'signed in with an API key, not a session: no user password to change');
      try {
        const session = await changePassword(deps, p.tenantId, p.userId, req.body, req.ip);
        setSessionCookies(reply, session.token, cookies);
        return { csrfToken: session.csrfToken, expiresAt: session.expiresAt.toISOString() };
      } catch (err) {
        return refused(reply, err);
      }
    },
  );

  app.post(
    '/v1/auth/reset',
    {
      schema: {
        summary: 'Ask for a password reset link by email: 202 whether or not the address has an account',
        tags: ['auth'],
        security: [],
        body: z.strictObject({ email: Email, tenantId: TenantId.optional() }),
        response: { 202: z.object({ message: z.string() }), ...errors },
      },
    },
    async (req, reply) => {
      let work: () => Promise<void>;
      try {
        work = await requestPasswordReset(deps, req.body, req.ip, publicUrlOf(req));
      } catch (err) {
        return refused(reply, err);
      }
      void work().catch((err: unknown) => deps.log.error({ err }, 'password reset request failed'));
      return reply.code(202).send({ message: 'if the address has an account, a reset link is on its way' });
    },
  );

  app.post(
    '/v1/auth/reset/confirm',
    {
      schema: {
        summary: 'Set a new password with a reset link’s token; every session of the user ends',
        tags: ['auth'],
        security: [],
        body: z.strictObject({ token: Token, password: Password }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      await confirmPasswordReset(deps, req.body);
      return reply.code(204).send(null);
    },
  );
};
