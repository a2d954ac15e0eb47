import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import type {
  ClientCapabilities,
  ElicitRequestFormParams,
  StandardSchemaWithJSON,
  ToolAnnotations,
} from '@modelcontextprotocol/server';
import type { CrmActionDeps } from '../../activities/crm/actions.js';
import type { AuditEntry } from '../../domain/audit.js';
import type { Pool, PoolClient } from '../../lib/db.js';
import type { AgentConversationSettings } from '../../lib/config.js';
import type { Logger } from '../../lib/logger.js';
import type { CachedReads } from '../services/cachedReads.js';
import type { Scope } from '../apiKeys.js';

/** What the tools are built on: the same pool and Temporal client the REST routes use. */
export interface ToolDeps {
  pool: Pool;
  /** The one-round-trip path of cached reads and its audit group commit (`ToolCall.cachedRead`). */
  cachedReads: CachedReads;
  temporal: Client;
  namespace: string;
  taskQueue: string;
  log: Logger;
  /** Base URL of the Temporal Web UI, for links in `workflow_describe`. */
  temporalUiUrl?: string;
  /** Each tenant's own provider accounts (the same resolver as `crm.access`). */
  access: ProviderAccess;
  /** Claude model for `insights_analyze_contact` (the key is the tenant's or the platform's). */
  anthropicModel?: string;
  /** HMAC key for the `requestState` of input_required rounds; every replica must share it. */
  requestStateKey: Uint8Array;
  /** GoHighLevel for live reads (free slots, caller lookup) from this process, on the shared request budget. */
  crm: CrmActionDeps;
  /** Persona agents' conversation limits (`agent_chat`); unset: the defaults. */
  agents?: AgentConversationSettings;
}

/** One tool call, as the tool's `run` sees it. Tool arguments never choose the tenant: this does. */
export interface ToolCall {
  tenantId: string;
  apiKeyId: string;
  deps: ToolDeps;
  /**
   * A tenant transaction (row-level security) whose commit also carries this call's audit row, so a
   * cached read costs one round of begin/commit. Use it for the call's main (last) read, and throw
   * inside `fn` when the call fails (the row then records the failure instead).
   */
  read<T>(fn: (c: PoolClient) => Promise<T>): Promise<T>;
  /**
   * Like `read` for one statement of the contacts cache, without a transaction: one round trip on a
   * tenant read session, the audit row by group commit (api/services/cachedReads.ts).
   */
  cachedRead<T>(fn: (c: PoolClient) => Promise<T>): Promise<T>;
  /** Recorded in the audit row: the workflow the call started or signalled, where the answer came from. */
  note(facts: { workflowId?: string; source?: AuditEntry['source'] }): void;
  /** True when the client passed a progress token (it wants progress notifications). */
  readonly wantsProgress: boolean;
  /** Sends `notifications/progress` when the client asked for it; otherwise does nothing. */
  progress(progress: number, total?: number, message?: string): Promise<void>;
  /** Aborted when the client cancels or goes away. */
  signal: AbortSignal;
}

/**
 * A failure the caller can act on that only the tool knows of (a bad argument combination, a write
 * still running, …): its message goes back as the tool result. The services' own refusals
 * (api/services/errors.ts) go back the same way without translation.
 */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}

export interface ToolDef<I extends z.ZodType, O extends z.ZodType> {
  /** Stable name clients configure against (`crm_search_contacts`). */
  name: string;
  title: string;
  description: string;
  /** The API key scope a caller needs; tools outside the key's scopes are neither listed nor callable. */
  scope: Scope;
  input: I;
  output: O;
  annotations: ToolAnnotations;
  /**
   * Client capabilities a call needs (given its arguments): without them the call is answered
   * JSON-RPC -32021 (HTTP 400) before it runs, so the client can declare them and retry.
   */
  requires?(args: z.output<I>): ClientCapabilities | undefined;
  /**
   * The question the user must say yes to before the tool acts (it books, dials, decides). Asked
   * as an `input_required` form when the client can show one, else `confirm: true` is needed (the
   * input schema must then have the `confirm` field, see `Confirm`).
   */
  confirm?(args: z.output<I>): string;
  /** What only the user can say (a decision), asked as a form when the call leaves it out; see `Ask`. */
  ask?: Ask<z.output<I>>;
  /** A result that waits for the user's yes (see `PendingConfirmation`). */
  pending?: PendingConfirmation<z.output<I>, z.input<O>>;
  run(args: z.output<I>, call: ToolCall): Promise<z.input<O>>;
}

/**
 * A tool whose result can stop at a question only the user can answer (an agent's booking waits
 * for consent). Where the client can show a form, the question is asked as an `input_required`
 * round and the call resumes with the answer; `token` rides in the signed requestState, so a
 * client cannot point the answer at another confirmation. Other clients get the result as it is
 * (status `awaiting_confirmation`) and answer with the tool's own arguments.
 */
export interface PendingConfirmation<A, R> {
  of(result: R): { question: string; token: Record<string, string> } | undefined;
  resume(args: A, token: Record<string, string>, approve: boolean): A;
}

/** A form shown in an `input_required` round. */
export interface AskForm {
  message: string;
  requestedSchema: ElicitRequestFormParams['requestedSchema'];
}

/**
 * Arguments the user gives rather than the model: when `needed` says the call left them out, a
 * client that declared `elicitation` is shown `form` (built in a tenant transaction, so an id of
 * another tenant fails before anything is shown) and its retried call runs with the answer merged
 * in (`merge`, validated again by the input schema). A client that cannot be asked is refused,
 * naming `field`.
 */
export interface Ask<A> {
  field: string;
  needed(args: A): boolean;
  form(args: A, c: PoolClient, tenantId: string): Promise<AskForm>;
  merge(args: A, answer: Record<string, unknown>): unknown;
}

/** A tool with its types erased, so families of tools can sit in one list. */
export interface AnyTool {
  name: string;
  title: string;
  description: string;
  scope: Scope;
  input: z.ZodType;
  output: z.ZodType;
  annotations: ToolAnnotations;
  requires?(args: unknown): ClientCapabilities | undefined;
  confirm?(args: unknown): string;
  ask?: Ask<unknown>;
  pending?: PendingConfirmation<unknown, unknown>;
  run(args: unknown, call: ToolCall): Promise<unknown>;
}

export function defineTool<I extends z.ZodType, O extends z.ZodType>(def: ToolDef<I, O>): AnyTool {
  return def as unknown as AnyTool;
}

/**
 * The fallback confirmation of a tool with `confirm`, for clients that cannot show a form (2025-era
 * HTTP clients, 2026 clients without `elicitation`). A client that can show one is always asked.
 */
export const Confirm = z
  .boolean()
  .optional()
  .describe('true only after the user agreed to exactly this action; clients that can show a form are asked instead');

/** Read tools: they change nothing and answer from Switchboard's own data. */
export const READ_ONLY: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};

/**
 * Zod issues as one line a model can act on, each naming its field: `limit: Too big: expected
 * number to be <=100; foo: unknown field`.
 */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .flatMap((i) => {
      const at = i.path.map(String).join('.');
      if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${at ? `${at}.` : ''}${k}: unknown field`);
      return [`${at || '(arguments)'}: ${i.message}`];
    })
    .join('; ');
}

/**
 * The JSON Schema clients see comes from the zod schema (computed once per tool). The SDK's own
 * checks let everything through: `run` parses its input with zod itself, so a bad argument becomes
 * an audited `isError` result naming the field rather than the SDK's generic message; and the output
 * is typed by `ToolDef` at compile time (clients check it against the published `outputSchema`).
 */
export function advertisedSchema(schema: z.ZodType, io: 'input' | 'output'): StandardSchemaWithJSON {
  let json: Record<string, unknown> | undefined;
  const jsonSchema = () =>
    (json ??= z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<
      string,
      unknown
    >);
  return {
    '~standard': {
      version: 1,
      vendor: 'switchboard',
      validate: (value: unknown) => ({ value }),
      jsonSchema: { input: jsonSchema, output: jsonSchema },
    },
  };
}
