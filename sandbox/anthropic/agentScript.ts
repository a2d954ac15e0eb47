import {
  blockText,
  oneLine,
  type ModelAnswer,
  type ModelMessage,
  type ModelRequest,
  type ToolResultInput,
} from './model.js';

/**
 * The scripted persona agent: when a request offers Switchboard's agent tools, the user's words
 * become a plan of tool calls, taken one per model step, and a closing answer that quotes what
 * the tools returned. The cues, in the order they run:
 * - "ask the Closer …" (strategist, builder, closer, operator) → ask_agent with the rest as the question
 * - "search (the) knowledge (base) for X" / "what does our knowledge say about X" → knowledge_search X
 * - "browse /path" → knowledge_browse
 * - "find contact X" / "look up X" → crm_search_contacts
 * - "insights", "hot leads", "brief" → insights; "recommend" → recommendations
 * - "calls" / "brief" → calls_list; "campaign" / "brief" → campaigns_status
 * - "remember X" → memory_remember; "note X on contact C" → crm_add_note
 * - "book" (optionally "contact C", "on YYYY-MM-DD") → crm_free_slots, then crm_book_appointment
 *   at the first free time for the contact named (or the first one a search found)
 * - "text contact C: …" → crm_send_sms; "call +1… to …" → calls_start_outbound
 * Deterministic: the same conversation gets the same calls and the same words.
 */

interface Step {
  tool: string;
  input: (ctx: Done) => Record<string, unknown> | undefined;
}

interface Done {
  asked: string;
  results: { name: string; text: string; isError: boolean }[];
}

const AGENTS =
  /\bask\s+(?:the\s+)?(strategist|builder|closer|operator)\b[\s,:]*(?:(?:about|whether|if|for)\s+)?([^.?!]*[.?!]?)/i;
const KNOWLEDGE =
  /\b(?:search\s+(?:the\s+|our\s+)?knowledge(?:\s+base)?\s+(?:for|about|on)|knowledge\s+(?:say|says)\s+about|look\s+in\s+the\s+knowledge\s+base\s+for)\s+([^.?!;]+)/i;
const BROWSE = /\bbrowse\s+(\/[a-z0-9/._-]*)/i;
const CONTACT_SEARCH =
  /\b(?:find\s+contact|look\s+up|search\s+contacts?\s+for)\s+([a-z0-9 .'@+-]+?)(?=$|[.?!,;]|\s+and\b)/i;
const CONTACT_ID = /\bcontact\s+([A-Za-z0-9_-]{3,})/i;
const DATE = /\b(\d{4}-\d{2}-\d{2})\b/;
const REMEMBER = /\bremember\s+(?:that\s+)?([^.?!]+)/i;
const NOTE = /\bnote\s+(?:that\s+)?"?([^"]+?)"?\s+on\s+contact\s+([A-Za-z0-9_-]+)/i;
const CALL = /\bcall\s+(\+?\d[\d\s().-]{7,}\d)(?:\s+(?:to|about)\s+([^.?!]+))?/i;
const SMS = /\btext\s+contact\s+([A-Za-z0-9_-]+)\s*:\s*(.+)$/i;

/** The user's own words this turn: the last user message that is not only tool results. */
function lastAsked(messages: ModelMessage[]): { asked: string; index: number } {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user') continue;
    const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    const words = blocks
      .filter(
        (b) => b.type === 'text' && typeof b.text === 'string' && !b.text.startsWith('<untrusted conversation-summary'),
      )
      .map((b) => (b as { text: string }).text)
      .join('\n');
    if (words.trim()) return { asked: words, index: i };
  }
  return { asked: '', index: 0 };
}

const stripData = (t: string) => t.replace(/<\/?untrusted[^>]*>/g, '').trim();

function resultsSince(messages: ModelMessage[], from: number): Done['results'] {
  const names = new Map<string, string>();
  const out: Done['results'] = [];
  for (const m of messages.slice(from)) {
    if (typeof m.content === 'string') continue;
    for (const b of m.content) {
      if (b.type === 'tool_use' && b.id && b.name) names.set(b.id, b.name);
      if (b.type === 'tool_result') {
        const r = b as ToolResultInput;
        out.push({
          name: names.get(r.tool_use_id) ?? 'tool',
          text: stripData(blockText([r])),
          isError: r.is_error === true,
        });
      }
    }
  }
  return out;
}

function plan(words: string): Step[] {
  const steps: Step[] = [];
  const ask = AGENTS.exec(words);
  if (ask) {
    const rest = ask[2]!.trim() || words;
    steps.push({ tool: 'ask_agent', input: () => ({ agent: ask[1]!.toLowerCase(), question: rest }) });
  }
  // The question for the other agent is theirs to act on: the rest of the plan comes from the other words.
  const asked = ask ? words.replace(ask[0], ' ') : words;
  const knowledge = KNOWLEDGE.exec(asked);
  if (knowledge)
    steps.push({
      tool: 'knowledge_search',
      input: () => ({ query: knowledge[1]!.replace(/\s+and\s+(book|ask|then)\b.*$/i, '').trim() }),
    });
  const browse = BROWSE.exec(asked);
  if (browse) steps.push({ tool: 'knowledge_browse', input: () => ({ path: browse[1]! }) });
  const contactSearch = CONTACT_SEARCH.exec(asked);
  if (contactSearch) steps.push({ tool: 'crm_search_contacts', input: () => ({ q: contactSearch[1]!.trim() }) });
  const brief = /\bbrief\b/i.test(asked);
  if (brief || /\b(insights?|hot leads?|going quiet)\b/i.test(asked))
    steps.push({ tool: 'insights', input: () => ({}) });
  if (/\brecommend/i.test(asked)) steps.push({ tool: 'recommendations', input: () => ({}) });
  if (brief || /\b(recent|missed|latest)\s+calls\b/i.test(asked))
    steps.push({ tool: 'calls_list', input: () => ({ limit: 5 }) });
  if (brief || /\bcampaigns?\b/i.test(asked)) steps.push({ tool: 'campaigns_status', input: () => ({}) });
  const remember = REMEMBER.exec(asked);
  if (remember) steps.push({ tool: 'memory_remember', input: () => ({ content: remember[1]!.trim() }) });
  const note = NOTE.exec(asked);
  if (note) steps.push({ tool: 'crm_add_note', input: () => ({ contactId: note[2]!, body: note[1]!.trim() }) });
  if (/\bbook\b/i.test(asked)) {
    const date = DATE.exec(asked)?.[1];
    steps.push({
      tool: 'crm_free_slots',
      input: () => ({ startDate: date ?? new Date().toISOString().slice(0, 10), ...(date ? { endDate: date } : {}) }),
    });
    steps.push({
      tool: 'crm_book_appointment',
      input: (done) => {
        const slots = done.results.find((r) => r.name === 'crm_free_slots' && !r.isError)?.text ?? '';
        const slot = /\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2})/.exec(slots)?.[0];
        const named = CONTACT_ID.exec(asked)?.[1];
        const found = done.results
          .find((r) => r.name === 'crm_search_contacts')
          ?.text.match(/^([A-Za-z0-9_-]+):/m)?.[1];
        const contactId = named ?? found;
        if (!slot || !contactId) return undefined;
        return { contactId, startTime: slot, title: 'Meeting' };
      },
    });
  }
  const dial = CALL.exec(asked);
  if (dial)
    steps.push({
      tool: 'calls_start_outbound',
      input: () => ({
        to: dial[1]!.replace(/[^\d+]/g, ''),
        purpose: dial[2]?.trim() ?? 'a follow-up call',
        ...(CONTACT_ID.exec(asked) ? { contactId: CONTACT_ID.exec(asked)![1] } : {}),
      }),
    });
  const sms = SMS.exec(asked);
  if (sms) steps.push({ tool: 'crm_send_sms', input: () => ({ contactId: sms[1]!, message: sms[2]!.trim() }) });
  return steps;
}

/** The agent's next step, or undefined when the request offers none of the agent tools. */
export function agentAnswer(req: ModelRequest, newToolUseId: () => string): ModelAnswer | undefined {
  const offered = new Set(req.tools.map((t) => t.name));
  if (!['knowledge_search', 'ask_agent', 'insights', 'crm_free_slots'].some((n) => offered.has(n)) && req.tools.length)
    return undefined;
  if (!req.tools.length && !/front-office agents/.test(req.system)) return undefined;
  const { asked, index } = lastAsked(req.messages);
  const done: Done = { asked, results: resultsSince(req.messages, index + 1) };
  const steps = plan(asked).filter((s) => offered.has(s.tool));
  // A failed or declined step ends the plan: the agent reports instead of pressing on.
  const stopped = done.results.some((r) => r.isError);
  const next = stopped ? undefined : steps[done.results.length];
  const input = next?.input(done);
  if (next && input && req.toolChoice.type !== 'none') {
    return {
      content: [
        { type: 'text', text: `Let me use ${next.tool}.` },
        { type: 'tool_use', id: newToolUseId(), name: next.tool, input },
      ],
      stopReason: 'tool_use',
    };
  }
  return { content: [{ type: 'text', text: closing(asked, done) }], stopReason: 'end_turn' };
}

function closing(asked: string, done: Done): string {
  if (!done.results.length) {
    return `Here is my answer to "${oneLine(asked, 200)}": I looked at what you asked and have nothing further to look up. Tell me what you would like me to do next.`;
  }
  const parts = done.results.map((r) =>
    r.isError ? `${r.name} did not go through: ${oneLine(r.text, 300)}` : `${r.name}: ${oneLine(r.text, 400)}`,
  );
  const cited = [...new Set(done.results.flatMap((r) => r.text.match(/\[\/[a-z0-9/._-]+\]/g) ?? []))];
  const sources = cited.length ? ` Sources: ${cited.join(' ')}.` : '';
  // People the results name (contacts in insights, calls), so a brief reads like one.
  const people = [
    ...new Set(done.results.flatMap((r) => [...r.text.matchAll(/"name":"([^"]{1,80})"/g)].map((m) => m[1]!))),
  ];
  const named = people.length ? ` People to look at: ${people.slice(0, 8).join(', ')}.` : '';
  return `Here is what I found.${named} ${parts.join(' ')}${sources}`;
}
