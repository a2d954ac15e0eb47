import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCrmActionActivities } from '../activities/crm/actions.js';
import { withTenant } from '../lib/db.js';
import { defaultBudget, GhlBudget } from '../providers/ghl/budget.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { sandboxProviders, setUpVoiceTenant } from './support/voice.js';

const TENANT = 'effects-a';

/** The CRM actions' idempotency (activities/crm/actions.ts once()) against the GHL sandbox. */
describe('CRM effects: claimed before acting', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let crm: ReturnType<typeof createCrmActionActivities>;
  let contactId: string;
  const ghl = async <T>(path: string) =>
    await sandbox.control<Record<string, T[]>>(
      'GET',
      `/ghl/${path}?locationId=loc_demo&contactId=${contactId}&limit=1000`,
    );

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: sandboxProviders(sandbox) });
    await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
    crm = createCrmActionActivities({
      pool: tp.platform.pool,
      access: tp.platform.access,
      ghlBudget: new GhlBudget(tp.platform.pool, defaultBudget),
    });
    contactId = (await crm.upsertContact({ tenantId: TENANT, phone: '+15555550231', name: 'Effie Once' })).contactId;
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('two concurrent attempts with one key act once and both get the same result', async () => {
    const note = () =>
      crm.addContactNote({ tenantId: TENANT, idempotencyKey: 'k-note-1', contactId, body: 'Concurrent note' });
    const sms = () =>
      crm.sendSms({ tenantId: TENANT, idempotencyKey: 'k-sms-1', contactId, message: 'Concurrent text' });
    const task = () =>
      crm.createFollowUpTask({
        tenantId: TENANT,
        idempotencyKey: 'k-task-1',
        contactId,
        title: 'Call back',
        dueDate: new Date(Date.now() + 86_400_000).toISOString(),
      });
    const [n1, n2, s1, s2, t1, t2] = await Promise.all([note(), note(), sms(), sms(), task(), task()]);
    expect(n1).toEqual(n2);
    expect(s1).toEqual(s2);
    expect(t1).toEqual(t2);
    const notes = (await ghl<{ body: string }>('notes')).notes!.filter((n) => n.body.startsWith('Concurrent note'));
    expect(notes).toHaveLength(1);
    const tasks = (await ghl<{ title: string }>('tasks')).tasks!.filter((t) => t.title === 'Call back');
    expect(tasks).toHaveLength(1);
    const sent = (await ghl<{ body: string }>('messages')).messages!;
    expect(sent.filter((m) => m.body === 'Concurrent text')).toHaveLength(1);
  });

  it('an attempt that crashed after GHL acted is taken over: GHL is asked, nothing is sent twice', async () => {
    const input = { tenantId: TENANT, idempotencyKey: 'k-sms-crash', contactId, message: 'Sent before the crash' };
    await crm.sendSms(input);
    // As a crash between GHL's answer and our record leaves it: claimed, by nobody alive.
    await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query(
        `update crm_effects set status = 'claimed', result = null, claim_token = null where tenant_id = $1 and idempotency_key = $2`,
        [TENANT, input.idempotencyKey],
      ),
    );
    const again = await crm.sendSms(input);
    expect(again.messageId).toBeTruthy();
    const sent = (await ghl<{ body: string }>('messages')).messages!;
    expect(sent.filter((m) => m.body === input.message)).toHaveLength(1);
    const row = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query(`select status from crm_effects where tenant_id = $1 and idempotency_key = $2`, [
        TENANT,
        input.idempotencyKey,
      ]),
    );
    expect(row.rows).toEqual([{ status: 'done' }]);
  });
});
