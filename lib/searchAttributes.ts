import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes every workflow family may set. Registered on the embedded dev server at
 * start; on a real cluster an operator registers them once (README: "Scale out").
 */
export const TenantIdKey = defineSearchAttributeKey('TenantId', SearchAttributeType.KEYWORD);
export const WorkflowKindKey = defineSearchAttributeKey('WorkflowKind', SearchAttributeType.KEYWORD);
export const ContactPhoneKey = defineSearchAttributeKey('ContactPhone', SearchAttributeType.KEYWORD);
export const CampaignIdKey = defineSearchAttributeKey('CampaignId', SearchAttributeType.KEYWORD);
export const CallStatusKey = defineSearchAttributeKey('CallStatus', SearchAttributeType.KEYWORD);

export const customSearchAttributes = [TenantIdKey, WorkflowKindKey, ContactPhoneKey, CampaignIdKey, CallStatusKey];
