import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GhlBudget } from '../providers/ghl/budget.js';
import {
  answerToolCall,
  createVoiceToolActivities,
  toolDefinitions,
  voiceTools,
  type VoiceToolRequest,
} from '../activities/voice/tools.js';
import type { ProviderAccess } from '../domain/connections/providerAccess.js';
import type { Pool } from '../lib/db.js';
import { VOICE_TOOL_NAMES } from '../lib/voiceToolNames.js';

/**
 * The voice tool table without Postgres or GoHighLevel: a fake pool that logs its SQL and a fake
 * GHL behind the budget's fetch. What is checked: one definition per tool name, arguments refused
 * before any work, and one read of the tenant's CRM settings per tool call.
 */
/** The query that reads a tenant's voice settings (openTenantCrm). */
const SETTINGS_READ = /from voice_settings/;

function fakeDeps() {
  const sql: string[] = [];
  const requests: string[] = [];
  const bodies: unknown[] = [];
  // call_tool_calls as Postgres keeps it: one row per (workflow, tool call id), a second insert does nothing.
  const toolRows = new Map<string, Record<string, unknown>>();
  const client = {
    async query(text: string, params: unknown[] = []) {
      sql.push(text);
      if (/insert into call_tool_calls/.test(text)) {
        const k = `${String(params[1])}/${String(params[2])}`;
        if (toolRows.has(k)) return { rows: [], rowCount: 0 };
        toolRows.set(k, { result: params[5], error: params[6], contact_id: params[9], appointment_id: params[10] });
        return { rows: [], rowCount: 1 };
      }
      if (/from call_tool_calls/.test(text)) {
        const row = toolRows.get(`${String(params[1])}/${String(params[2])}`);
        return { rows: row ? [row] : [], rowCount: row ? 1 : 0 };
      }
      return { rows: [], rowCount: 0 };
    },
    release() {},
  };
  const ghl: Record<string, unknown> = {
    'POST /contacts/upsert': { new: true, contact: { id: 'ct-new', locationId: 'loc-1', tags: [] } },
    'GET /contacts/ct-new': { contact: { id: 'ct-new', locationId: 'loc-1', tags: [] } },
    'GET /contacts/ct-new/notes': { notes: [] },
    'POST /contacts/ct-new/notes': { note: { id: 'note-1', body: 'x' } },
    'GET /contacts/ct-new/tasks': { tasks: [] },
    'POST /contacts/ct-new/tasks': { task: { id: 'task-1', title: 'x' } },
  };
  const fakeFetch = async (url: string | URL | Request, init?: RequestInit) => {
    const route = `${init?.method ?? 'GET'} ${new URL(String(url)).pathname}`;
    requests.push(route);
    if (init?.body) bodies.push(JSON.parse(String(init.body)));
    const body = ghl[route];
    return new Response(JSON.stringify(body ?? { message: 'not found' }), { status: body ? 200 : 404 });
  };
  const deps = {
    pool: { connect: async () => client } as unknown as Pool,
    // The tenant's own GHL connection, as the resolver hands it out.
    access: {
      mode: () => 'live' as const,
      ghl: async () => ({
        mode: 'live' as const,
        baseUrl: 'http://ghl.test',
        locationId: 'loc-1',
        via: 'private_token' as const,
        token: { current: async () => 'token', renewAfterRejected: async () => 'token' },
      }),
    } as unknown as ProviderAccess,
    ghlBudget: { gateFor: () => ({ admit: async () => {}, observe: async () => {} }) } as unknown as GhlBudget,
  };
  // GHL is this in-process fake (GhlClient takes the global fetch when it is made).
  vi.stubGlobal('fetch', fakeFetch);
  return { deps, sql, requests, bodies, toolRows, ghl };
}

const request = (over: Partial<VoiceToolRequest>): VoiceToolRequest => ({
  tenantId: 'tenant-a',
  workflowId: 'call:tenant-a:vapi:pc1',
  toolCallId: 'tc-1',
  name: 'lookup_caller',
  args: {},
  customerPhone: '+15550100',
  contactId: null,
  transferNumber: null,
  ...over,
});

interface Refusal {
  message: string;
  type: string | undefined;
  nonRetryable: boolean;
}

async function refusal(p: Promise<unknown>): Promise<Refusal> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  const f = err as ApplicationFailure;
  return { message: f.message, type: f.type ?? undefined, nonRetryable: Boolean(f.nonRetryable) };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('voice tools: one definition per tool', () => {
  it('defines every tool name, and gives the assistant their JSON Schemas', () => {
    expect(Object.keys(voiceTools).sort()).toEqual([...VOICE_TOOL_NAMES].sort());
    const defs = toolDefinitions(['book_appointment', 'recall']);
    expect(defs.map((d) => d.name)).toEqual(['book_appointment', 'recall']);
    expect(defs[0]!.parameters).toMatchObject({ type: 'object', required: ['startTime'] });
    expect(defs[1]!.description).toBe(voiceTools.recall.description);
  });

  it('refuses bad arguments by field, before any database or CRM work', async () => {
    const { deps, sql, requests } = fakeDeps();
    const { runVoiceTool } = createVoiceToolActivities(deps);
    const bad = runVoiceTool(request({ name: 'book_appointment', args: { startTime: 'tomorrow', email: 'nope' } }));
    expect(await refusal(bad)).toEqual({
      message: 'book_appointment: startTime: expected an ISO date-time with offset; email: Invalid email address',
      type: 'VoiceToolRefused',
      nonRetryable: true,
    });
    const empty = runVoiceTool(request({ name: 'add_note', args: {} }));
    expect((await refusal(empty)).message).toMatch(/^add_note: body: /);
    expect(sql).toEqual([]);
    expect(requests).toEqual([]);
  });

  it('a new caller’s note: contact created, note written, the tenant’s CRM settings read once', async () => {
    const { deps, sql, requests, bodies } = fakeDeps();
    const { runVoiceTool } = createVoiceToolActivities(deps);
    const r = await runVoiceTool(request({ name: 'add_note', args: { body: 'Wants a call back on Friday.' } }));
    expect(r).toEqual({ text: 'Noted (note-1).', contactId: 'ct-new' });
    // The new contact is checked to be in the tenant's location before the note goes on it.
    expect(requests).toEqual([
      'POST /contacts/upsert',
      'GET /contacts/ct-new',
      'GET /contacts/ct-new/notes',
      'POST /contacts/ct-new/notes',
    ]);
    expect(sql.filter((q) => SETTINGS_READ.test(q))).toHaveLength(1);
    // The note is keyed by the tool call (a retried activity finds it and writes no second one).
    expect(bodies.at(-1)).toEqual({
      body: 'Wants a call back on Friday.\n\nref: tenant-a/call:tenant-a:vapi:pc1:tool:tc-1',
    });
  });

  it('transfer with nobody to put the caller through to: the message is passed on as a task, and the call records it', async () => {
    const { deps, sql, requests, bodies } = fakeDeps();
    const { runVoiceTool } = createVoiceToolActivities(deps);
    const r = await runVoiceTool(
      request({ name: 'transfer_to_human', args: { reason: 'billing', message: 'Invoice 42 is wrong' } }),
    );
    expect(r).toEqual({
      text: 'Nobody can take the call right now (no transfer number set); the message was passed on (task task-1) and someone will call back on +15550100.',
      contactId: 'ct-new',
    });
    expect(requests.at(-1)).toBe('POST /contacts/ct-new/tasks');
    expect(bodies.at(-1)).toMatchObject({
      title: 'Call back +15550100 (+15550100): Invoice 42 is wrong',
      completed: false,
    });
    expect(sql.some((q) => /insert into call_transfers/.test(q))).toBe(true);
  });

  it('an unknown name is refused, not a crash', async () => {
    const { deps } = fakeDeps();
    const { runVoiceTool } = createVoiceToolActivities(deps);
    const unknown = request({ name: 'launch_rocket' as VoiceToolRequest['name'] });
    const refused = { message: 'unknown tool launch_rocket', type: 'VoiceToolRefused' };
    expect(await refusal(runVoiceTool(unknown))).toMatchObject(refused);
  });
});

describe('voice tools: by default they act only for the caller (issue 18)', () => {
  it("refuses another number's record, a booking for someone else and notes filed under another subject; the CRM is never asked", async () => {
    const { deps, requests } = fakeDeps();
    const { runVoiceTool } = createVoiceToolActivities(deps);
    const other = await refusal(runVoiceTool(request({ name: 'lookup_caller', args: { phone: '+1 555 555 0199' } })));
    expect(other).toMatchObject({ type: 'VoiceToolRefused', nonRetryable: true });
    expect(other.message).toContain("only the caller's own number");
    const booking = await refusal(
      runVoiceTool(
        request({ name: 'book_appointment', args: { startTime: '2030-01-07T10:00:00-05:00', phone: '+15555550199' } }),
      ),
    );
    expect(booking.message).toContain('booked for the caller only');
    const note = await refusal(
      runVoiceTool(request({ name: 'remember', args: { content: 'VIP, give a discount', subject: '+15555550199' } })),
    );
    expect(note.message).toContain('about the caller only');
    expect(requests).toEqual([]);
  });

  it('a tool call records itself once: a retried attempt answers from its row without running the tool again', async () => {
    const { deps, sql, requests, toolRows } = fakeDeps();
    const call = {
      ...request({ name: 'add_note', args: { body: 'Call back Friday.' } }),
      name: 'add_note',
      at: Date.now(),
      maxAttempts: 3,
    };
    const first = await answerToolCall(deps, call, { attempt: 1, startedAtMs: Date.now() });
    expect(first).toEqual({ result: 'Noted (note-1).', contactId: 'ct-new' });
    expect(toolRows.size).toBe(1);
    const audits = () => sql.filter((q) => /insert into audit_log/.test(q)).length;
    expect(audits()).toBe(1);
    const ghlCalls = requests.length;

    // The worker died after the row was written, before the workflow heard: the retry finds the row.
    const again = await answerToolCall(deps, call, { attempt: 2, startedAtMs: Date.now() });
    expect(again).toEqual(first);
    expect(requests).toHaveLength(ghlCalls);
    expect(toolRows.size).toBe(1);
    expect(audits()).toBe(1);
  });

  it('a failure a retry may fix is thrown while attempts remain; the last attempt and refusals are recorded answers', async () => {
    const { deps, requests, toolRows } = fakeDeps();
    // The CRM is unreachable (a retry may find it back).
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('fetch failed');
    });
    const call = {
      ...request({ name: 'add_note', args: { body: 'x' }, toolCallId: 'tc-9' }),
      name: 'add_note',
      at: Date.now(),
      maxAttempts: 2,
    };
    await expect(answerToolCall(deps, call, { attempt: 1, startedAtMs: Date.now() })).rejects.toThrow();
    expect(toolRows.size).toBe(0);
    const last = await answerToolCall(deps, call, { attempt: 2, startedAtMs: Date.now() });
    expect(last.error).toBeTruthy();
    expect(toolRows.get('call:tenant-a:vapi:pc1/tc-9')).toMatchObject({ error: last.error, result: null });

    const before = requests.length;
    const refused = await answerToolCall(
      deps,
      { ...call, toolCallId: 'tc-10', name: 'launch_rocket', refused: 'unknown tool launch_rocket' },
      { attempt: 1, startedAtMs: Date.now() },
    );
    expect(refused).toEqual({ error: 'unknown tool launch_rocket' });
    expect(requests).toHaveLength(before);
    expect(toolRows.get('call:tenant-a:vapi:pc1/tc-10')).toMatchObject({ error: 'unknown tool launch_rocket' });
  });
});
