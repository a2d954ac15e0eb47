import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CallOutcome, VoiceProvider } from '../providers/voice.js';
import type { VoiceSettings } from '../lib/voice.js';

/**
 * The voiceCall workflow's contract: its input and result, and the messages the API sends it
 * (provider events as a signal, the agent's tool calls as an update) or asks it (its state).
 * Client code imports this file, not the workflow; the names are in recorded histories.
 */

export type VoiceCallInput =
  | {
      direction: 'inbound';
      tenantId: string;
      provider: VoiceProvider;
      providerCallId: string;
      customerPhone?: string;
      ourPhone?: string;
      /** The tenant's settings as the webhook saw them: tool calls need not wait for openCall. */
      settings?: VoiceSettings;
    }
  | {
      direction: 'outbound';
      tenantId: string;
      provider: VoiceProvider;
      /** Our reference for the request (the workflow id's last part). */
      callRef: string;
      to: string;
      contactId?: string;
      purpose: string;
      /** Provider assistant / agent id overriding the tenant's. */
      assistant?: string;
      metadata?: Record<string, string>;
    };

export interface VoiceCallResult {
  /** `suppressed`: the number or contact opted out (any channel), so no call was placed. */
  status: CallOutcome | 'suppressed';
  attempts: number;
  providerCallIds: string[];
  appointmentIds: string[];
  contactId?: string;
  outcome?: string;
  nextAction?: string;
  summary?: string;
}

/** A provider event, reduced to what the workflow decides on; its body is in `call_events`. */
export interface CallEvent {
  /** Idempotency key (Vapi: type + timestamp; Retell: event + call id). */
  key: string;
  providerCallId: string;
  kind: 'status' | 'report' | 'activity';
  /** Provider status words: queued, ringing, in-progress, forwarding, ended. */
  status?: string;
  endedReason?: string;
  /** Retell's call_ended carries the whole call: it can stand in for a report. */
  final?: boolean;
}

export interface ToolCallRequest {
  id: string;
  name: string;
  args: unknown;
}
export interface ToolCallAnswer {
  toolCallId: string;
  name: string;
  result?: string;
  error?: string;
}

export interface VoiceCallState {
  status: string;
  direction: 'inbound' | 'outbound';
  attempts: number;
  providerCallIds: string[];
  contactId: string | null;
  toolCalls: number;
  appointmentIds: string[];
}

/** Message names are part of recorded histories: never rename them. */
export const callEventSignal = defineSignal<[CallEvent]>('callEvent');
/**
 * A live call's tool calls. Each answer is written to `call_tool_calls` by the worker and read from
 * there by the API, which answers the provider: a signal's workflow task is persisted before a
 * worker takes it, so the tool runs in a task a Temporal server restart keeps, and the call costs
 * one workflow task. Sending the same tool call again runs it once.
 */
export const toolCallsSignal = defineSignal<[{ calls: ToolCallRequest[] }]>('toolCallsArrived');
/** Tool calls as an update whose result is the answers: how API processes before `toolCallsSignal` sent them. */
export const toolCallsUpdate = defineUpdate<{ results: ToolCallAnswer[] }, [{ calls: ToolCallRequest[] }]>('toolCalls');
export const callStateQuery = defineQuery<VoiceCallState>('callState');
