import { useEffect, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import type { CallSummary } from './api';

/**
 * Follows GET /v1/calls/stream (Server-Sent Events; the session cookie authenticates it): every new
 * or changed call is handed to `onCall`, and the call's own page data is refreshed. EventSource
 * reconnects by itself; `live` says whether the stream is up.
 */
export function useCallStream(onCall: (call: CallSummary) => void): boolean {
  const queryClient = useQueryClient();
  const [live, setLive] = useState(false);
  useEffect(() => {
    const source = new EventSource('/v1/calls/stream');
    source.onopen = () => setLive(true);
    source.onerror = () => setLive(false);
    source.addEventListener('call', (e) => {
      const call = JSON.parse((e as MessageEvent<string>).data) as CallSummary;
      onCall(call);
      void queryClient.invalidateQueries({ queryKey: ['call', call.id] });
    });
    return () => source.close();
  }, [onCall, queryClient]);
  return live;
}
