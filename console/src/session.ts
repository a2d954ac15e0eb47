import { useQuery } from '@tanstack/react-query';
import { get, type Me } from './api';

/** Who is signed in (GET /v1/me): the tenant, the user and the scopes their role grants. */
export function useMe() {
  return useQuery({ queryKey: ['me'], queryFn: () => get<Me>('/v1/me'), staleTime: 60_000 });
}
