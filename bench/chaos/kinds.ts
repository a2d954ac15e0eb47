/** The kinds of fault a chaos run injects (bench/chaos/faults.ts); every run injects each at least once. */
export const faultKinds = [
  'worker_kill',
  'api_kill',
  'temporal_kill',
  'postgres_restart',
  'ghl_429',
  'ghl_500',
  'ghl_slow',
  'ghl_drop',
  'webhook_duplicate',
  'webhook_reorder',
] as const;
export type FaultKind = (typeof faultKinds)[number];
