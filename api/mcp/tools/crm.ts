import { z } from 'zod';
import { ContactPage, ContactSearch, ContactWithTimeline, getContact, searchContacts } from '../../routes/contacts.js';
import { defineTool, READ_ONLY, ToolError } from '../tool.js';

/** CRM reads: answered from the contacts cache the crmSync workflow keeps (see crm_sync_now). */

const ContactId = z.string().trim().min(1).max(100);

export const crmReadTools = [
  defineTool({
    name: 'crm_search_contacts',
    title: 'Search contacts',
    description: 'Search the CRM contacts cache: words of a name, email or company (fuzzy on names), exact phone (any format), email or tag. Pages with nextCursor.',
    scope: 'read',
    input: ContactSearch,
    output: ContactPage.extend({ source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async (args, call) => ({ ...(await call.read((c) => searchContacts(c, call.tenantId, args))), source: 'cache' as const }),
  }),
  defineTool({
    name: 'crm_get_contact',
    title: 'Get a contact',
    description: 'One contact from the CRM cache with its timeline (newest first).',
    scope: 'read',
    input: z.strictObject({ contactId: ContactId }),
    output: ContactWithTimeline.extend({ source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async (args, call) => {
      const found = await call.read(async (c) => {
        const hit = await getContact(c, call.tenantId, args.contactId);
        if (!hit) throw new ToolError(`no contact '${args.contactId}' in the cache (search with crm_search_contacts; crm_sync_now refreshes the cache)`);
        return hit;
      });
      return { ...found, source: 'cache' as const };
    },
  }),
];
