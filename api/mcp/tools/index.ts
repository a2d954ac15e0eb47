import type { AnyTool } from '../tool.js';
import { campaignTools } from './campaigns.js';
import { crmTools } from './crm.js';
import { frontDeskTools } from './frontDesk.js';
import { insightTools } from './insights.js';
import { knowledgeTools } from './knowledge.js';
import { agentTools } from './agents.js';
import { memoryTools } from './memory.js';
import { opsTools } from './ops.js';
import { syncTools } from './sync.js';
import { voiceTools } from './voice.js';

/** Every tool the MCP adapter offers, by family; each key sees the ones its scopes allow. */
export const allTools: readonly AnyTool[] = [
  ...memoryTools,
  ...crmTools,
  ...frontDeskTools,
  ...syncTools,
  ...voiceTools,
  ...campaignTools,
  ...insightTools,
  ...opsTools,
  ...knowledgeTools,
  ...agentTools,
];
