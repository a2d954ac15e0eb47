import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** Tenant ids appear in workflow ids, URLs and RLS settings, so they are kept short and plain. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const TenantId = z
  .string()
  .regex(TENANT_ID_PATTERN, 'tenant id: 2-63 lowercase letters, digits or dashes, starting with a letter or digit');
export type TenantId = z.infer<typeof TenantId>;

// Workflow ids live in a zod-free module: workflow code imports them, and the workflow bundle
// evaluates every module it imports once per workflow run.
export { workflowIds } from './workflowIds.js';

/** A short random id with a kind prefix (`cmp_…`, `ld_…`, `apr_…`): campaigns, leads, approvals. */
export const newId = (prefix: string, bytes = 8) =>
  `${prefix}_${randomBytes(bytes).toString('base64url').replace(/[-_]/g, '').toLowerCase().slice(0, 12)}`;
