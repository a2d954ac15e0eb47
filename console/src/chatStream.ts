import { ApiError, csrfToken } from './api';

/**
 * One chat turn streamed from the API: POST with `Accept: text/event-stream` (EventSource cannot
 * POST), the body read as it arrives and split into SSE events. If the connection drops before the
 * final `reply`, the same messageId is posted again with Last-Event-ID, and the API resumes after
 * the last event seen (the turn itself runs once, in its workflow).
 */

export interface ChatConfirmation {
  id: string;
  tool: string;
  input: Record<string, unknown>;
  question: string;
  expiresAt: string;
}

export interface ChatReply {
  conversationId: string;
  messageId: string;
  status: 'answered' | 'awaiting_confirmation' | 'stopped';
  reply: { id: string; text: string } | null;
  confirmation: ChatConfirmation | null;
  stopReason: string | null;
  tools: { name: string; ok: boolean }[];
}

export interface TurnProgress {
  conversationId?: string;
  /** The text of the model step being written (earlier steps are replaced as the agent moves on). */
  text: string;
  tools: string[];
}

const RESUME_ATTEMPTS = 3;

export interface StreamOptions {
  signal?: AbortSignal;
  /** Headers of this caller (the website widget's origin and token); the console sends its CSRF token. */
  headers?: Record<string, string>;
  /** Where a resumed turn goes once the API named the conversation (default: its messages route). */
  resumePath?: (conversationId: string) => string;
}

export async function streamTurn<R = ChatReply>(
  path: string,
  body: { text: string; messageId: string },
  onProgress: (p: TurnProgress) => void,
  opts: StreamOptions = {},
): Promise<R> {
  const { signal } = opts;
  const resumePath = opts.resumePath ?? ((id: string) => `/v1/conversations/${encodeURIComponent(id)}/messages`);
  const steps = new Map<number, string>();
  const progress: TurnProgress = { text: '', tools: [] };
  let lastId = 0;
  const emit = () => {
    const last = Math.max(-1, ...steps.keys());
    progress.text = last >= 0 ? (steps.get(last) ?? '') : '';
    onProgress({ ...progress, tools: [...progress.tools] });
  };

  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      'content-type': 'application/json',
      ...opts.headers,
    };
    const token = opts.headers ? undefined : csrfToken();
    if (token) headers['x-csrf-token'] = token;
    if (lastId > 0) headers['last-event-id'] = String(lastId);
    // Once the API has named the conversation, a resume goes to it (a new conversation is made once).
    const url = progress.conversationId ? resumePath(progress.conversationId) : path;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers,
        credentials: 'same-origin',
        body: JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (signal?.aborted || attempt >= RESUME_ATTEMPTS) throw err;
      continue;
    }
    if (!res.ok || !res.body) {
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON: keep the text */
      }
      if (res.status === 401) window.dispatchEvent(new Event('sb:signed-out'));
      const message =
        parsed && typeof parsed === 'object' && 'message' in parsed
          ? String((parsed as { message: unknown }).message)
          : `${res.status} ${res.statusText}`;
      throw new ApiError(res.status, message, parsed);
    }

    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const chunk = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = parseEvent(chunk);
          if (!event) continue;
          if (event.id !== undefined) lastId = event.id;
          const data = event.data as Record<string, unknown>;
          switch (event.event) {
            case 'start':
              progress.conversationId = String(data.conversationId);
              emit();
              break;
            case 'delta':
              steps.set(Number(data.step), (steps.get(Number(data.step)) ?? '') + String(data.text));
              emit();
              break;
            case 'reset':
              steps.set(Number(data.step), String(data.text));
              emit();
              break;
            case 'tool':
              progress.tools.push(String(data.text));
              emit();
              break;
            case 'reply':
              return event.data as R;
            case 'error':
              throw new ApiError(Number(data.statusCode ?? 500), String(data.message ?? 'the turn failed'), data);
          }
        }
      }
    } catch (err) {
      if (err instanceof ApiError || signal?.aborted || attempt >= RESUME_ATTEMPTS) throw err;
    }
    // The stream ended without its reply: reconnect and resume after the last event seen.
    if (attempt >= RESUME_ATTEMPTS) throw new Error('the reply stream ended early; try again');
  }
}

function parseEvent(chunk: string): { id?: number; event: string; data: unknown } | undefined {
  let event = 'message';
  let id: number | undefined;
  const data: string[] = [];
  for (const line of chunk.split('\n')) {
    if (line.startsWith('id:')) id = Number(line.slice(3).trim());
    else if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (!data.length) return undefined;
  try {
    return { id, event, data: JSON.parse(data.join('\n')) };
  } catch {
    return undefined;
  }
}
