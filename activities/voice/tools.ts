import { ApplicationFailure } from '@temporalio/activity';
import { withTenant } from '../../lib/db.js';
import { recall, remember } from '../../domain/memory.js';
import { voiceTools, type VoiceToolName } from '../../lib/voice.js';
import { createCrmActionActivities, type CrmActionDeps } from '../crm/actions.js';

/**
 * The voice agent's tools, one activity for all of them: arguments are parsed here with the tool's
 * zod schema (the workflow stays free of zod, which its bundle would otherwise load for every
 * call), the CRM action or memory runs, and the answer comes back as the one line the agent says.
 */

export interface VoiceToolRequest {
  tenantId: string;
  workflowId: string;
  toolCallId: string;
  name: VoiceToolName;
  args: unknown;
  /** What the call knows so far: tools default to the caller. */
  customerPhone: string | null;
  contactId: string | null;
  transferNumber: string | null;
}

export interface VoiceToolResult {
  text: string;
  /** The caller's CRM contact, when this tool found or created it. */
  contactId?: string;
  appointmentId?: string;
}

const refuse = (message: string): never => {
  throw ApplicationFailure.nonRetryable(message, 'VoiceToolRefused');
};

export function createVoiceToolActivities(deps: CrmActionDeps) {
  const crm = createCrmActionActivities(deps);

  async function callerContact(req: VoiceToolRequest): Promise<string> {
    if (req.contactId) return req.contactId;
    if (!req.customerPhone) return refuse('the caller has no number to file this under');
    return (await crm.upsertContact({ tenantId: req.tenantId, phone: req.customerPhone! })).contactId;
  }

  return {
    async runVoiceTool(req: VoiceToolRequest): Promise<VoiceToolResult> {
      const { tenantId, workflowId } = req;
      const parsed = voiceTools[req.name].args.safeParse(req.args ?? {});
      if (!parsed.success) refuse(`${req.name}: ${parsed.error!.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ')}`);
      const key = `${workflowId}:tool:${req.toolCallId}`;
      const caller = req.customerPhone ?? undefined;
      switch (req.name) {
        case 'lookup_caller': {
          const { phone } = voiceTools.lookup_caller.args.parse(req.args ?? {});
          const found = await crm.lookupCaller({ tenantId, phone: phone ?? caller ?? '' });
          if (!found.contact) return { text: `No CRM record for ${phone ?? caller ?? 'this caller'}${found.degraded ? ' (CRM did not answer in time)' : ''}.` };
          const c = found.contact;
          return {
            text: `Found ${c.name ?? 'a contact'}${c.email ? `, email ${c.email}` : ''}${c.tags.length ? `, tags ${c.tags.join(', ')}` : ''} (contact ${c.id}).`,
            ...(!phone || phone === caller ? { contactId: c.id } : {}),
          };
        }
        case 'get_free_slots': {
          const a = voiceTools.get_free_slots.args.parse(req.args ?? {});
          const r = await crm.getFreeSlots({ tenantId, startDate: a.startDate, endDate: a.endDate, timezone: a.timezone });
          if (!r.slots.length) return { text: `No free times from ${a.startDate}${a.endDate ? ` to ${a.endDate}` : ''}.` };
          return { text: `Free times (${r.timezone}): ${r.slots.slice(0, 12).join(', ')}${r.slots.length > 12 ? ` and ${r.slots.length - 12} more` : ''}.` };
        }
        case 'book_appointment': {
          const a = voiceTools.book_appointment.args.parse(req.args ?? {});
          // Keyed by the time, not the tool call: the agent asking twice books once.
          const r = await crm.bookAppointment({
            tenantId,
            idempotencyKey: `${workflowId}:book:${Date.parse(a.startTime)}`,
            contactId: req.contactId ?? undefined,
            phone: a.phone ?? caller,
            email: a.email,
            name: a.name,
            startTime: a.startTime,
            title: a.title,
          });
          return { text: `Booked for ${r.startTime} (appointment ${r.appointmentId}).`, contactId: r.contactId, appointmentId: r.appointmentId };
        }
        case 'add_note': {
          const a = voiceTools.add_note.args.parse(req.args ?? {});
          const contactId = await callerContact(req);
          const r = await crm.addContactNote({ tenantId, idempotencyKey: key, contactId, body: a.body });
          return { text: `Noted (${r.noteId}).`, contactId };
        }
        case 'send_sms': {
          const a = voiceTools.send_sms.args.parse(req.args ?? {});
          const contactId = await callerContact(req);
          const r = await crm.sendSms({ tenantId, idempotencyKey: key, contactId, message: a.message });
          return { text: `Text sent (${r.messageId}).`, contactId };
        }
        case 'remember': {
          const a = voiceTools.remember.args.parse(req.args ?? {});
          await withTenant(deps.pool, tenantId, (c) =>
            remember(c, { tenantId, content: a.content, subject: a.subject ?? caller, provenance: { source: 'voice', workflowId }, idempotencyKey: key }),
          );
          return { text: 'Remembered.' };
        }
        case 'recall': {
          const a = voiceTools.recall.args.parse(req.args ?? {});
          const items = await withTenant(deps.pool, tenantId, (c) => recall(c, { tenantId, query: a.query, limit: 3 }));
          return { text: items.length ? items.map((i) => i.content).join(' | ') : `Nothing remembered about "${a.query}".` };
        }
        case 'transfer_to_human':
          if (!req.transferNumber) refuse('nobody is available to take the call; offer to take a message');
          return { text: `Transfer the caller to ${req.transferNumber}.` };
      }
    },
  };
}
