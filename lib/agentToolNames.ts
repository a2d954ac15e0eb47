/**
 * The persona agents' tool names, zod-free: the conversation workflow checks names and the
 * confirmation policy with these; the definitions (descriptions, schemas, runs) are in
 * activities/agents/tools.ts.
 */
export const AGENT_TOOL_NAMES = [
  'knowledge_search',
  'knowledge_browse',
  'crm_search_contacts',
  'crm_get_contact',
  'crm_free_slots',
  'crm_book_appointment',
  'crm_add_note',
  'crm_send_sms',
  'calls_list',
  'calls_get',
  'calls_start_outbound',
  'campaigns_status',
  'campaigns_create_draft',
  'insights',
  'recommendations',
  'memory_remember',
  'memory_recall',
  'ask_agent',
] as const;
export type AgentToolName = (typeof AGENT_TOOL_NAMES)[number];

/** Tools that act in the world: by default each waits for the owner's yes. */
export const ACTING_TOOLS: readonly AgentToolName[] = ['crm_book_appointment', 'crm_send_sms', 'calls_start_outbound'];

export const isAgentToolName = (name: string): name is AgentToolName =>
  (AGENT_TOOL_NAMES as readonly string[]).includes(name);

/**
 * What a persona may use when it talks to an anonymous visitor (the website chat): the knowledge
 * base only, scoped by the widget. No CRM reads, no booking, texting or calling, no other agent.
 */
export const VISITOR_TOOLS: readonly AgentToolName[] = ['knowledge_search', 'knowledge_browse'];
