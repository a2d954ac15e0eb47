import { DEMO } from './model.js';
import type { GhlStore } from './store.js';

/** The one agency (company) and user every sandbox location belongs to. */
export const SANDBOX_COMPANY_ID = 'cmp_demo';
export const SANDBOX_USER_ID = 'usr_demo';

/** A sub-account as `GET /locations/{locationId}` returns it (the fields our app reads, plus a few). */
export interface LocationRecord {
  id: string;
  companyId: string;
  name: string;
  email: string;
  phone: string;
  address: string;
  city: string;
  state: string;
  country: string;
  postalCode: string;
  website: string;
  timezone: string;
  business: { name: string; email: string; timezone: string };
}

/** Every location the store knows (the demo one first, then in order of first use). */
export function listLocations(store: GhlStore): LocationRecord[] {
  return [...store.locations.keys()].map((id) => describe(store, id));
}

export function findLocation(store: GhlStore, id: string): LocationRecord | undefined {
  return store.locations.has(id) ? describe(store, id) : undefined;
}

function describe(store: GhlStore, id: string): LocationRecord {
  const demo = id === DEMO.locationId;
  const name = demo ? 'Demo Location' : `Sandbox location ${id}`;
  // A location's time zone is its first calendar's, as close as the sandbox gets to GHL's setting.
  let timezone = 'America/New_York';
  for (const cal of store.calendars.values()) {
    if (cal.locationId === id) {
      timezone = cal.timezone;
      break;
    }
  }
  const email = `${id.toLowerCase().replace(/[^a-z0-9]+/g, '-')}@sandbox.example.com`;
  return {
    id,
    companyId: SANDBOX_COMPANY_ID,
    name,
    email,
    phone: demo ? '+15555550199' : '',
    address: demo ? '1 Demo Street' : '',
    city: demo ? 'New York' : '',
    state: demo ? 'NY' : '',
    country: 'US',
    postalCode: demo ? '10001' : '',
    website: '',
    timezone,
    business: { name, email, timezone },
  };
}
