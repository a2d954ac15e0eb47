import { z } from 'zod';
import type { PoolClient } from '../../lib/db.js';
import { AGENT_TOOL_NAMES, type AgentToolName } from '../../lib/agentToolNames.js';
import { DEFAULT_CONFIRM_TOOLS, PERSONAS } from './personas.js';

/**
 * Agents (sql/017_agents.sql): the tenant's personas, each with a versioned prompt. Plain
 * functions over a client inside `withTenant(...)`. The four seeded personas appear on a tenant's
 * first use of agents (`ensureAgents`), so tenants created before this existed get them too.
 */

export const AgentId = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,39}$/, 'expected a lowercase id (letters, digits, dashes; 2-40 characters)');
export const AgentToolNameSchema = z.enum(AGENT_TOOL_NAMES);
const Colour = z.string().regex(/^#[0-9a-f]{6}$/, 'expected a colour like #1a2b3c');
/** Five-field cron: minute hour day-of-month month day-of-week. */
const Cron = z
  .string()
  .regex(/^(\S+\s+){4}\S+$/, 'expected a five-field cron expression, e.g. "0 8 * * 1-5"')
  .max(100);
export const AgentBrief = z.strictObject({ cron: Cron }).nullable();

export const AgentInput = z.strictObject({
  id: AgentId,
  name: z.string().trim().min(1).max(80),
  role: z.string().trim().min(1).max(300),
  prompt: z.string().trim().min(1).max(50_000),
  model: z.string().min(1).max(100).optional(),
  colour: Colour.default('#334155'),
  icon: z.string().min(1).max(40).default('sparkles'),
  tools: z.array(AgentToolNameSchema).max(AGENT_TOOL_NAMES.length).default(['knowledge_search', 'knowledge_browse']),
  confirmTools: z.array(AgentToolNameSchema).max(AGENT_TOOL_NAMES.length).default(DEFAULT_CONFIRM_TOOLS),
  brief: AgentBrief.default(null),
});
export type AgentInput = z.output<typeof AgentInput>;
export const AgentPatch = AgentInput.omit({ id: true }).partial().extend({ enabled: z.boolean().optional() }).strict();
export type AgentPatch = z.output<typeof AgentPatch>;

export const Agent = z.object({
  id: z.string(),
  name: z.string(),
  role: z.string(),
  model: z.string().nullable(),
  colour: z.string(),
  icon: z.string(),
  tools: z.array(z.string()),
  confirmTools: z.array(z.string()),
  enabled: z.boolean(),
  promptVersion: z.number(),
  brief: z.object({ cron: z.string() }).nullable(),
  updatedAt: z.string(),
});
export type Agent = z.infer<typeof Agent> & { tools: AgentToolName[]; confirmTools: AgentToolName[] };

interface AgentRow {
  id: string;
  name: string;
  role: string;
  model: string | null;
  colour: string;
  icon: string;
  tools: AgentToolName[];
  confirm_tools: AgentToolName[];
  enabled: boolean;
  prompt_version: number;
  brief: { cron: string } | null;
  updated_at: Date;
}
const toAgent = (r: AgentRow): Agent => ({
  id: r.id,
  name: r.name,
  role: r.role,
  model: r.model,
  colour: r.colour,
  icon: r.icon,
  tools: r.tools,
  confirmTools: r.confirm_tools,
  enabled: r.enabled,
  promptVersion: r.prompt_version,
  brief: r.brief,
  updatedAt: r.updated_at.toISOString(),
});
const COLUMNS = 'id, name, role, model, colour, icon, tools, confirm_tools, enabled, prompt_version, brief, updated_at';

export class AgentExists extends Error {
  override readonly name = 'AgentExists';
}

async function insertAgent(c: PoolClient, tenantId: string, a: AgentInput): Promise<Agent | undefined> {
  const { rows } = await c.query<AgentRow>(
    `insert into agents (tenant_id, id, name, role, model, colour, icon, tools, confirm_tools, brief)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict do nothing returning ${COLUMNS}`,
    [
      tenantId,
      a.id,
      a.name,
      a.role,
      a.model ?? null,
      a.colour,
      a.icon,
      a.tools,
      a.confirmTools,
      JSON.stringify(a.brief),
    ],
  );
  if (!rows[0]) return undefined;
  await c.query('insert into agent_prompts (tenant_id, agent_id, version, prompt) values ($1, $2, 1, $3)', [
    tenantId,
    a.id,
    a.prompt,
  ]);
  return toAgent(rows[0]);
}

/** The four personas, once per tenant (a concurrent first use inserts them once). */
export async function ensureAgents(c: PoolClient, tenantId: string): Promise<void> {
  const { rows } = await c.query<{ n: string }>('select count(*) as n from agents where tenant_id = $1', [tenantId]);
  if (Number(rows[0]!.n) > 0) return;
  // Serialises two first uses: the second sees the first's rows after the lock.
  await c.query('select pg_advisory_xact_lock(hashtext($1))', [`agents:${tenantId}`]);
  for (const p of PERSONAS) {
    await insertAgent(c, tenantId, {
      id: p.id,
      name: p.name,
      role: p.role,
      prompt: p.prompt,
      colour: p.colour,
      icon: p.icon,
      tools: p.tools,
      confirmTools: DEFAULT_CONFIRM_TOOLS.filter((t) => p.tools.includes(t)),
      brief: p.brief,
    });
  }
}

export async function listAgents(c: PoolClient, tenantId: string): Promise<Agent[]> {
  await ensureAgents(c, tenantId);
  const { rows } = await c.query<AgentRow>(
    `select ${COLUMNS} from agents where tenant_id = $1 order by created_at, id`,
    [tenantId],
  );
  // The seeded personas first, in their own order; then the tenant's own agents as created.
  const rank = (id: string) => {
    const i = PERSONAS.findIndex((p) => p.id === id);
    return i < 0 ? PERSONAS.length : i;
  };
  return rows.map(toAgent).sort((a, b) => rank(a.id) - rank(b.id));
}

export async function getAgent(c: PoolClient, tenantId: string, id: string): Promise<Agent | undefined> {
  await ensureAgents(c, tenantId);
  const { rows } = await c.query<AgentRow>(`select ${COLUMNS} from agents where tenant_id = $1 and id = $2`, [
    tenantId,
    id,
  ]);
  return rows[0] && toAgent(rows[0]);
}

/** The prompt an agent ran (or runs) with at a version. */
export async function agentPrompt(c: PoolClient, tenantId: string, id: string, version: number): Promise<string> {
  const { rows } = await c.query<{ prompt: string }>(
    'select prompt from agent_prompts where tenant_id = $1 and agent_id = $2 and version = $3',
    [tenantId, id, version],
  );
  if (!rows[0]) throw new Error(`agent ${id} has no prompt version ${version}`);
  return rows[0].prompt;
}

export async function createAgent(c: PoolClient, tenantId: string, a: AgentInput): Promise<Agent> {
  await ensureAgents(c, tenantId);
  const agent = await insertAgent(c, tenantId, a);
  if (!agent) throw new AgentExists(`id: agent '${a.id}' already exists`);
  return agent;
}

/** Changes an agent; a new prompt becomes the next version (conversations keep theirs). */
export async function updateAgent(
  c: PoolClient,
  tenantId: string,
  id: string,
  patch: AgentPatch,
): Promise<Agent | undefined> {
  const current = await getAgent(c, tenantId, id);
  if (!current) return undefined;
  let version = current.promptVersion;
  if (patch.prompt !== undefined && patch.prompt !== (await agentPrompt(c, tenantId, id, version))) {
    version += 1;
    await c.query('insert into agent_prompts (tenant_id, agent_id, version, prompt) values ($1, $2, $3, $4)', [
      tenantId,
      id,
      version,
      patch.prompt,
    ]);
  }
  const { rows } = await c.query<AgentRow>(
    `update agents set name = $3, role = $4, model = $5, colour = $6, icon = $7, tools = $8, confirm_tools = $9,
            brief = $10, enabled = $11, prompt_version = $12, updated_at = now()
      where tenant_id = $1 and id = $2 returning ${COLUMNS}`,
    [
      tenantId,
      id,
      patch.name ?? current.name,
      patch.role ?? current.role,
      patch.model ?? current.model,
      patch.colour ?? current.colour,
      patch.icon ?? current.icon,
      patch.tools ?? current.tools,
      patch.confirmTools ?? current.confirmTools,
      JSON.stringify(patch.brief === undefined ? current.brief : patch.brief),
      patch.enabled ?? current.enabled,
      version,
    ],
  );
  return rows[0] && toAgent(rows[0]);
}
