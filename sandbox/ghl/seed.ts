import { deriveSeed, IdFactory, Rng } from '../random.js';
import { contactRow, type ContactRow } from './model.js';

/** Realistic, deterministic contacts: same (seed, locationId, count) → same contacts. */

const FIRST = [
  'James',
  'Mary',
  'Robert',
  'Patricia',
  'John',
  'Jennifer',
  'Michael',
  'Linda',
  'David',
  'Elizabeth',
  'William',
  'Barbara',
  'Richard',
  'Susan',
  'Joseph',
  'Jessica',
  'Thomas',
  'Sarah',
  'Carlos',
  'Karen',
  'Daniel',
  'Lisa',
  'Matthew',
  'Nancy',
  'Anthony',
  'Sofia',
  'Mark',
  'Ashley',
  'Wei',
  'Priya',
  'Ahmed',
  'Fatima',
  'Luis',
  'Maria',
  'Kenji',
  'Aiko',
  'Olga',
  'Ivan',
  'Noah',
  'Emma',
  'Liam',
  'Olivia',
  'Mateo',
  'Isabella',
  'Lucas',
  'Mia',
  'Ethan',
  'Amara',
  'Kwame',
  'Chloe',
];
const LAST = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Garcia',
  'Miller',
  'Davis',
  'Rodriguez',
  'Martinez',
  'Hernandez',
  'Lopez',
  'Gonzalez',
  'Wilson',
  'Anderson',
  'Thomas',
  'Taylor',
  'Moore',
  'Jackson',
  'Martin',
  'Lee',
  'Perez',
  'Thompson',
  'White',
  'Harris',
  'Sanchez',
  'Clark',
  'Ramirez',
  'Lewis',
  'Robinson',
  'Walker',
  'Young',
  'Allen',
  'King',
  'Wright',
  'Scott',
  'Torres',
  'Nguyen',
  'Hill',
  'Flores',
  'Patel',
  'Kim',
  'Chen',
  'Singh',
  'Okafor',
  'Müller',
  "O'Brien",
  'Kowalski',
  'Silva',
  'Tanaka',
];
const DOMAINS = ['example.com', 'example.net', 'example.org', 'mail.example.com', 'inbox.example.net'];
const COMPANIES = [
  'Acme Dental',
  'Bright Smile Clinic',
  'Northside Plumbing',
  'Summit Realty',
  'Green Leaf Landscaping',
  'Peak Fitness',
  'Harbor Law Group',
  'Blue Sky Roofing',
  null,
  null,
  null,
];
const SOURCES = [
  'website form',
  'facebook ads',
  'google ads',
  'referral',
  'walk-in',
  'phone call',
  'csv import',
  'instagram',
];
const TAGS = [
  'new lead',
  'hot',
  'cold',
  'follow-up',
  'booked',
  'no-show',
  'customer',
  'vip',
  'newsletter',
  'campaign-spring',
  'callback',
  'do-not-call',
];
const PLACES = [
  { city: 'Austin', state: 'TX', area: '512', tz: 'America/Chicago' },
  { city: 'Denver', state: 'CO', area: '303', tz: 'America/Denver' },
  { city: 'Miami', state: 'FL', area: '305', tz: 'America/New_York' },
  { city: 'Seattle', state: 'WA', area: '206', tz: 'America/Los_Angeles' },
  { city: 'Chicago', state: 'IL', area: '312', tz: 'America/Chicago' },
  { city: 'Boston', state: 'MA', area: '617', tz: 'America/New_York' },
  { city: 'Phoenix', state: 'AZ', area: '602', tz: 'America/Phoenix' },
  { city: 'San Diego', state: 'CA', area: '619', tz: 'America/Los_Angeles' },
];
const STREETS = ['Main St', 'Oak Ave', 'Maple Dr', 'Cedar Ln', 'Pine St', 'Elm St', 'Lakeview Rd', 'Sunset Blvd'];
const YEAR_MS = 365 * 24 * 3600 * 1000;
// Lower-cased, ASCII-only name parts for email local parts, computed once rather than per contact.
const emailPart = (name: string) => name.toLowerCase().replace(/[^a-z]/g, '');
const FIRST_EMAIL = new Map(FIRST.map((n) => [n, emailPart(n)]));
const LAST_EMAIL = new Map(LAST.map((n) => [n, emailPart(n)]));
const FIRST_LOWER = new Map(FIRST.map((n) => [n, n.toLowerCase()]));
const LAST_LOWER = new Map(LAST.map((n) => [n, n.toLowerCase()]));

export interface SeedOptions {
  locationId: string;
  count: number;
  seed: number;
  /** Contacts are spread over the year before this instant. */
  now: number;
  /** Offset so a second seeding of the same location yields new, non-colliding contacts. */
  startIndex: number;
}

export function generateContacts(opts: SeedOptions): ContactRow[] {
  const rng = new Rng(deriveSeed(opts.seed, `ghl-seed:${opts.locationId}:${opts.startIndex}`));
  const ids = new IdFactory(rng);
  const out: ContactRow[] = new Array(opts.count);
  // Unique 7-digit local numbers: a stride coprime to 8,000,000 visits each value once.
  const phoneBase = rng.int(8_000_000);
  for (let n = 0; n < opts.count; n++) {
    const i = opts.startIndex + n;
    const first = rng.pick(FIRST);
    const last = rng.pick(LAST);
    const place = rng.pick(PLACES);
    const added = opts.now - Math.floor(rng.next() * YEAR_MS);
    const updated = Math.min(opts.now, added + Math.floor(rng.next() * (opts.now - added)));
    const tagCount = rng.int(4);
    const tags: string[] = [];
    for (let t = 0; t < tagCount; t++) {
      const tag = rng.pick(TAGS);
      if (!tags.includes(tag)) tags.push(tag);
    }
    const local = 2_000_000 + ((phoneBase + i * 7919) % 8_000_000);
    const hasEmail = rng.chance(0.9);
    const emailUser = `${FIRST_EMAIL.get(first)}.${LAST_EMAIL.get(last)}`;
    const companyName = rng.pick(COMPANIES);
    out[n] = contactRow(
      {
        id: ids.ghl(),
        locationId: opts.locationId,
        contactName: `${first} ${last}`,
        firstName: first,
        lastName: last,
        firstNameLowerCase: FIRST_LOWER.get(first)!,
        lastNameLowerCase: LAST_LOWER.get(last)!,
        email: hasEmail ? `${emailUser}${i}@${rng.pick(DOMAINS)}` : null,
        phone: `+1${place.area}${local}`,
        companyName,
        source: rng.pick(SOURCES),
        type: rng.chance(0.2) ? 'customer' : 'lead',
        tags,
        dnd: rng.chance(0.03),
        assignedTo: null,
        address1: `${100 + rng.int(9900)} ${rng.pick(STREETS)}`,
        city: place.city,
        state: place.state,
        country: 'US',
        postalCode: String(10000 + rng.int(89999)),
        timezone: place.tz,
        website: null,
        dateOfBirth: null,
        customFields: [],
        dateAdded: new Date(added).toISOString(),
        dateUpdated: new Date(updated).toISOString(),
      },
      added,
      updated,
    );
  }
  return out;
}
