import { withTenant, type Pool } from '../../lib/db.js';
import { GhlApiError } from '../../providers/ghl/client.js';
import type { TenantCrm } from './callerLookup.js';

/**
 * Ids a caller hands us (REST, MCP, a voice agent's tool call, a campaign row) must name records of
 * the tenant's own connected location before anything is sent: the cache first, GHL second. A hit
 * is remembered a few minutes per tenant and id.
 */

/** The id names no record of this tenant's location (another business's, or none at all). */
export class NotTenantsRecordError extends Error {
  override readonly name = 'NotTenantsRecordError';
}

const REMEMBER_MS = 10 * 60_000;
const confirmed = new Map<string, number>();
const remembered = (key: string) => (confirmed.get(key) ?? 0) > Date.now();
const remember = (key: string) => {
  if (confirmed.size > 50_000) confirmed.clear();
  confirmed.set(key, Date.now() + REMEMBER_MS);
};

export async function assertTenantContact(
  pool: Pool,
  tenantId: string,
  crm: TenantCrm,
  contactId: string,
): Promise<void> {
  const key = `${tenantId}\u0000${crm.locationId}\u0000contact\u0000${contactId}`;
  if (remembered(key)) return;
  const cached = await withTenant(pool, tenantId, (c) =>
    c.query('select 1 from contacts where tenant_id = $1 and id = $2 and location_id = $3', [
      tenantId,
      contactId,
      crm.locationId,
    ]),
  );
  if (!cached.rowCount) {
    const live = await crm.ghl.getContact(contactId).catch((err: unknown) => {
      // GHL answers 403 for a contact of a location the token does not cover.
      if (err instanceof GhlApiError && (err.status === 403 || err.status === 401 || err.status === 422)) return null;
      throw err;
    });
    if (!live || live.locationId !== crm.locationId) {
      throw new NotTenantsRecordError(`contact '${contactId}' is not in this tenant's CRM`);
    }
  }
  remember(key);
}

export async function assertTenantCalendar(tenantId: string, crm: TenantCrm, calendarId: string): Promise<void> {
  const key = `${tenantId}\u0000${crm.locationId}\u0000calendar\u0000${calendarId}`;
  if (remembered(key)) return;
  const calendars = await crm.ghl.listCalendars(crm.locationId);
  if (!calendars.some((c) => c.id === calendarId)) {
    throw new NotTenantsRecordError(`calendar '${calendarId}' is not a calendar of this tenant's location`);
  }
  remember(key);
}

/** GHL's answer when a token reaches for another location's record (or none): treated as "not yours". */
const notReachable = (err: unknown) =>
  err instanceof GhlApiError && (err.status === 403 || err.status === 401 || err.status === 422)
    ? null
    : Promise.reject(err);

/**
 * The appointment, once it is known to be on one of the tenant's calendars in its location. Not
 * remembered: an appointment changes (moved, cancelled), so each use reads it.
 */
export async function tenantAppointment(tenantId: string, crm: TenantCrm, appointmentId: string) {
  const appt = await crm.ghl.getAppointment(appointmentId).catch(notReachable);
  if (!appt || (appt.locationId !== undefined && appt.locationId !== crm.locationId))
    throw new NotTenantsRecordError(`appointment '${appointmentId}' is not in this tenant's CRM`);
  await assertTenantCalendar(tenantId, crm, appt.calendarId);
  return appt;
}

/** A pipeline of the tenant's location, and (when given) one of its stages. */
export async function assertTenantPipeline(
  tenantId: string,
  crm: TenantCrm,
  pipelineId: string,
  stageId?: string,
): Promise<void> {
  const key = `${tenantId}\u0000${crm.locationId}\u0000pipeline\u0000${pipelineId}\u0000${stageId ?? ''}`;
  if (remembered(key)) return;
  const pipeline = (await crm.ghl.listPipelines(crm.locationId)).find((p) => p.id === pipelineId);
  if (!pipeline)
    throw new NotTenantsRecordError(`pipeline '${pipelineId}' is not a pipeline of this tenant's location`);
  if (stageId && !pipeline.stages.some((s) => s.id === stageId))
    throw new NotTenantsRecordError(`stage '${stageId}' is not a stage of pipeline '${pipelineId}'`);
  remember(key);
}

/** The opportunity, once it is known to be in the tenant's location (and on one of its pipelines). */
export async function tenantOpportunity(tenantId: string, crm: TenantCrm, opportunityId: string) {
  const opp = await crm.ghl.getOpportunity(opportunityId).catch(notReachable);
  const location = opp && typeof opp.locationId === 'string' ? opp.locationId : undefined;
  if (!opp || (location !== undefined && location !== crm.locationId))
    throw new NotTenantsRecordError(`opportunity '${opportunityId}' is not in this tenant's CRM`);
  await assertTenantPipeline(tenantId, crm, opp.pipelineId);
  return opp;
}

/** A GHL workflow (automation) of the tenant's location. */
export async function assertTenantWorkflow(tenantId: string, crm: TenantCrm, workflowId: string): Promise<void> {
  const key = `${tenantId}\u0000${crm.locationId}\u0000workflow\u0000${workflowId}`;
  if (remembered(key)) return;
  if (!(await crm.ghl.listWorkflows(crm.locationId)).some((w) => w.id === workflowId))
    throw new NotTenantsRecordError(`workflow '${workflowId}' is not a workflow of this tenant's location`);
  remember(key);
}
