import { createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GhlClient } from '../../providers/ghl/client.js';
import type { RunningSandbox } from '../../sandbox/server.js';
import { control, startReceiver, startTestSandbox, waitFor } from './helpers.js';

let sb: RunningSandbox;
let ghl: GhlClient;

beforeAll(async () => {
  sb = await startTestSandbox();
  ghl = new GhlClient({ baseUrl: `${sb.url}/ghl`, token: 'pit-sandbox' });
});
afterAll(async () => {
  await sb.close();
});

describe('GoHighLevel outbound webhooks', () => {
  it('posts contact and appointment events signed with RSA (x-wh-signature) and Ed25519 (x-ghl-signature)', async () => {
    const server = await startReceiver(() => ({ status: 200 }));
    try {
      await control(sb, 'POST', '/ghl/webhooks', { url: `${server.url}/webhooks/ghl`, locationId: 'loc_demo' });
      const keys = await control<{ 'x-wh-signature': { publicKey: string }; 'x-ghl-signature': { publicKey: string } }>(
        sb,
        'GET',
        '/ghl/webhook-keys',
      );

      const { contact } = await ghl.upsertContact('loc_demo', { firstName: 'Hook', email: 'hook@example.com' });
      await ghl.updateContact(contact.id, { lastName: 'Test' });
      await ghl.upsertContact('loc_elsewhere', { email: 'other@example.com' }); // other location: not sent
      const day = new Date(Date.now() + 4 * 86_400_000);
      const slots = await ghl.getFreeSlots({
        calendarId: 'cal_demo',
        startDate: day,
        endDate: day.getTime() + 6 * 86_400_000,
      });
      const first = Object.values(slots)[0]![0]!;
      await ghl.bookAppointment({
        calendarId: 'cal_demo',
        locationId: 'loc_demo',
        contactId: contact.id,
        startTime: first,
      });
      await ghl.deleteContact(contact.id);

      await waitFor(async () => (server.received.length >= 4 ? true : undefined));
      const payloads = server.received.map(
        (r) =>
          JSON.parse(r.raw) as {
            type: string;
            id?: string;
            webhookId: string;
            timestamp: string;
            locationId: string;
            appointment?: { contactId: string };
          },
      );
      expect(payloads.map((p) => p.type).sort()).toEqual([
        'AppointmentCreate',
        'ContactCreate',
        'ContactDelete',
        'ContactUpdate',
      ]);
      expect(
        payloads.every(
          (p) => p.locationId === 'loc_demo' && p.webhookId && Date.now() - Date.parse(p.timestamp) < 60_000,
        ),
      ).toBe(true);
      expect(payloads.find((p) => p.type === 'AppointmentCreate')!.appointment!.contactId).toBe(contact.id);

      const rsa = createPublicKey(keys['x-wh-signature'].publicKey);
      const ed = createPublicKey(keys['x-ghl-signature'].publicKey);
      for (const r of server.received) {
        expect(
          verify('sha256', Buffer.from(r.raw), rsa, Buffer.from(String(r.headers['x-wh-signature']), 'base64')),
        ).toBe(true);
        expect(verify(null, Buffer.from(r.raw), ed, Buffer.from(String(r.headers['x-ghl-signature']), 'base64'))).toBe(
          true,
        );
        expect(
          verify(null, Buffer.from(`${r.raw} `), ed, Buffer.from(String(r.headers['x-ghl-signature']), 'base64')),
        ).toBe(false);
      }
      const log = await control<{ deliveries: { delivered: boolean }[] }>(sb, 'GET', '/ghl/webhooks');
      expect(log.deliveries.every((d) => d.delivered)).toBe(true);
    } finally {
      await server.close();
    }
  });
});
