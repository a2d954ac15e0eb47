/**
 * The voice agent's tool names, zod-free: workflow code imports this (a workflow bundle loads every
 * module it imports for each workflow run, so it must stay small). Schemas live in lib/voice.ts.
 */
export const VOICE_TOOL_NAMES = [
  'lookup_caller',
  'get_free_slots',
  'book_appointment',
  'add_note',
  'send_sms',
  'remember',
  'recall',
  'transfer_to_human',
  'find_appointments',
  'reschedule_appointment',
  'cancel_appointment',
  'take_message',
] as const;
export type VoiceToolName = (typeof VOICE_TOOL_NAMES)[number];

export function isVoiceToolName(name: string): name is VoiceToolName {
  return (VOICE_TOOL_NAMES as readonly string[]).includes(name);
}
