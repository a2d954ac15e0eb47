// Every workflow the worker runs; the worker bundles this file (and only what it imports).
export { readinessProbe } from './readinessProbe.js';
export { crmSync } from './crmSync.js';
export { voiceCall } from './voiceCall.js';
export { campaign } from './campaign.js';
export { leadOutreach } from './leadOutreach.js';
export { crmAction } from './crmAction.js';
export { conversation } from './conversation.js';
export { agentBrief } from './agentBrief.js';
