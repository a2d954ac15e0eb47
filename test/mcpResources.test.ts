import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, createTenantWithKeys } from './support/mcp.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';

/**
 * The tenant's context as MCP resources and prompts, over HTTP with the SDK client (2026-07-28):
 * templates, reads of a contact, a call transcript and a campaign's progress for the key's tenant;
 * another tenant's ids read as not found; prompts with arguments; caching hints.
 */

describe('MCP resources and prompts', () => {
  let tp: TestPlatform;
  let a: Client;
  let b: Client;
  let campaignId: string;

  beforeAll(async () => {
    tp = await startTestPlatform();
    const ka = await createTenantWithKeys(tp.baseUrl, 'res-a', { all: ['read', 'act'] });
    const kb = await createTenantWithKeys(tp.baseUrl, 'res-b', { all: ['read', 'act'] });
    const db = tp.adminPool;
    await db.query(
      `insert into contacts (tenant_id, id, location_id, first_name, last_name, name, email, phone, tags, date_added, date_updated) values
        ('res-a', 'ra1', 'loc_a', 'Rita', 'Archer', 'Rita Archer', 'rita@a.example', '+15125550111', '{}', now(), now()),
        ('res-b', 'rb1', 'loc_b', 'Bob', 'Bravo', 'Bob Bravo', 'bob@b.example', '+15125550112', '{}', now(), now())`,
    );
    await db.query(
      `insert into calls (tenant_id, workflow_id, provider, direction, status, purpose) values
        ('res-a', 'call:res-a:one', 'vapi', 'outbound', 'completed', 'confirm'),
        ('res-b', 'call:res-b:one', 'vapi', 'outbound', 'completed', 'secret')`,
    );
    await db.query(
      `insert into call_utterances (tenant_id, workflow_id, seq, role, text) values
        ('res-a', 'call:res-a:one', 0, 'assistant', 'Hi Rita, confirming Tuesday.'),
        ('res-a', 'call:res-a:one', 1, 'user', 'Yes, Tuesday works.'),
        ('res-b', 'call:res-b:one', 0, 'user', 'B tenant secret words')`,
    );
    a = await connectHttp(tp.baseUrl, ka.all, 'modern');
    b = await connectHttp(tp.baseUrl, kb.all, 'modern');
    // A campaign as campaign_create stores it (definition trimmed: progress reads only the counts).
    campaignId = 'cmp_res_a';
    await db.query(
      `insert into campaigns (tenant_id, id, name, goal, definition) values ('res-a', $1, 'Reminders', 'Book a check-up', '{}')`,
      [campaignId],
    );
    await db.query(
      `insert into campaign_leads (tenant_id, campaign_id, id, email) values
        ('res-a', $1, 'l1', 'res-1@example.com'), ('res-a', $1, 'l2', 'res-2@example.com')`,
      [campaignId],
    );
  });
  afterAll(async () => {
    await a?.close().catch(() => undefined);
    await b?.close().catch(() => undefined);
    await tp?.stop();
  });

  const read = async (client: Client, uri: string) => {
    const res = await client.readResource({ uri });
    expect(res.contents[0]).toMatchObject({ uri, mimeType: 'application/json' });
    return JSON.parse((res.contents[0] as { text: string }).text);
  };

  it('lists the templates (and no enumerable resources) with caching hints', async () => {
    const templates = await a.listResourceTemplates();
    expect(templates.resourceTemplates.map((t) => t.uriTemplate).sort()).toEqual([
      'switchboard://calls/{callId}/transcript',
      'switchboard://campaigns/{campaignId}/progress',
      'switchboard://contacts/{contactId}',
    ]);
    expect(templates).toMatchObject({ ttlMs: 60_000, cacheScope: 'private' });
    const list = await a.listResources();
    expect(list.resources).toEqual([]);
    expect(list).toMatchObject({ ttlMs: 0, cacheScope: 'private' });
    expect(await a.listPrompts()).toMatchObject({ ttlMs: 60_000, cacheScope: 'private' });
  });

  it("reads the key's tenant's contact, call transcript and campaign progress", async () => {
    const contact = await read(a, 'switchboard://contacts/ra1');
    expect(JSON.stringify(contact)).toContain('Rita Archer');
    const transcript = await read(a, 'switchboard://calls/call%3Ares-a%3Aone/transcript');
    expect(transcript).toMatchObject({ callId: 'call:res-a:one', status: 'completed' });
    expect(JSON.stringify(transcript.transcript)).toContain('Yes, Tuesday works.');
    const progress = await read(a, `switchboard://campaigns/${campaignId}/progress`);
    expect(progress.leads.total).toBe(2);
    const res = await a.readResource({ uri: 'switchboard://contacts/ra1' });
    expect(res).toMatchObject({ ttlMs: 0, cacheScope: 'private' });
  });

  it("another tenant's ids read as not found, with nothing of theirs in the answer", async () => {
    const attempts: [Client, string][] = [
      [a, 'switchboard://contacts/rb1'],
      [a, 'switchboard://calls/call%3Ares-b%3Aone/transcript'],
      [b, `switchboard://campaigns/${campaignId}/progress`],
    ];
    for (const [client, uri] of attempts) {
      const err = await client.readResource({ uri }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, uri).toBeInstanceOf(Error);
      expect(err!.message).toMatch(/not found/i);
      expect(err!.message).not.toMatch(/Bob|secret|Reminders/);
    }
    // B's own contact is there for B: the refusal above was about the tenant.
    expect(JSON.stringify(await read(b, 'switchboard://contacts/rb1'))).toContain('Bob Bravo');
  });

  it('lists the prompts and gets them with arguments, built from the tenant data', async () => {
    const names = (await a.listPrompts()).prompts.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['prepare_next_appointment', 'review_call']));
    const review = await a.getPrompt({ name: 'review_call', arguments: { callId: 'call:res-a:one' } });
    expect(JSON.stringify(review.messages)).toContain('Yes, Tuesday works.');
    const next = await a.getPrompt({ name: 'prepare_next_appointment' });
    expect(next.messages.length).toBeGreaterThan(0);
    const foreign = await a.getPrompt({ name: 'review_call', arguments: { callId: 'call:res-b:one' } }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(foreign?.message).toMatch(/not found/i);
    expect(foreign?.message).not.toMatch(/secret/);
  });
});
