import { fail } from './errors.js';
import { contactRow, lowerFields, rowText, type Contact, type ContactRow } from './model.js';

/**
 * Contacts of one location with the indexes search needs: by id, phone and email (duplicate
 * search and upsert), and sorted arrays per sort order, kept up to date on every write by
 * binary-search insert/remove so a search over 100k contacts never sorts.
 */

export type Direction = 'asc' | 'desc';
export interface SortSpec {
  field: string;
  direction: Direction;
}
type Key = number | string | null;

const sortGetters: Record<string, (r: ContactRow) => Key> = {
  dateAdded: (r) => r.addedMs,
  dateUpdated: (r) => r.updatedMs,
  firstNameLowerCase: (r) => r.contact.firstNameLowerCase,
  firstName: (r) => r.contact.firstNameLowerCase,
  lastNameLowerCase: (r) => r.contact.lastNameLowerCase,
  lastName: (r) => r.contact.lastNameLowerCase,
  email: (r) => r.contact.email,
  businessName: (r) => lowerFields(r).companyName,
  companyName: (r) => lowerFields(r).companyName,
};
export const sortableFields = Object.keys(sortGetters);

function compareKey(a: Key, b: Key, direction: Direction): number {
  // Missing values sort last in both directions, as in GHL's UI.
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  const c = a < b ? -1 : a > b ? 1 : 0;
  return direction === 'asc' ? c : -c;
}

export class SortedIndex {
  readonly rows: ContactRow[];
  private readonly getters: ((r: ContactRow) => Key)[];

  constructor(
    readonly specs: SortSpec[],
    rows: Iterable<ContactRow>,
  ) {
    this.getters = specs.map((s) => sortGetters[s.field]!);
    // Decorate-sort-undecorate: keys computed once per row, not twice per comparison.
    const keyed = [...rows].map((row) => ({ row, keys: this.getters.map((g) => g(row)), id: row.contact.id }));
    const dirs = specs.map((s) => s.direction);
    keyed.sort((a, b) => {
      for (let i = 0; i < dirs.length; i++) {
        const c = compareKey(a.keys[i]!, b.keys[i]!, dirs[i]!);
        if (c !== 0) return c;
      }
      return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    });
    this.rows = keyed.map((k) => k.row);
  }

  keys(row: ContactRow): (Key | string)[] {
    return [...this.getters.map((g) => g(row)), row.contact.id];
  }

  compare(a: ContactRow, b: ContactRow): number {
    for (let i = 0; i < this.getters.length; i++) {
      const c = compareKey(this.getters[i]!(a), this.getters[i]!(b), this.specs[i]!.direction);
      if (c !== 0) return c;
    }
    return a.contact.id < b.contact.id ? -1 : a.contact.id > b.contact.id ? 1 : 0;
  }

  /** Compares a row with a `searchAfter` cursor `[...sortValues, id]`. */
  private compareCursor(row: ContactRow, cursor: readonly Key[]): number {
    for (let i = 0; i < this.getters.length; i++) {
      const c = compareKey(this.getters[i]!(row), coerce(cursor[i], this.getters[i]!(row)), this.specs[i]!.direction);
      if (c !== 0) return c;
    }
    const id = String(cursor[this.getters.length] ?? '');
    return row.contact.id < id ? -1 : row.contact.id > id ? 1 : 0;
  }

  /** Index of the first row strictly after the cursor. */
  after(cursor: readonly Key[]): number {
    let lo = 0;
    let hi = this.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compareCursor(this.rows[mid]!, cursor) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private position(row: ContactRow): number {
    let lo = 0;
    let hi = this.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.rows[mid]!, row) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(row: ContactRow): void {
    this.rows.splice(this.position(row), 0, row);
  }

  remove(row: ContactRow): void {
    const i = this.position(row);
    if (this.rows[i] === row) this.rows.splice(i, 1);
    else {
      const j = this.rows.indexOf(row); // only if a caller mutated a row in place
      if (j >= 0) this.rows.splice(j, 1);
    }
  }
}

/** Dates in a cursor may arrive as ISO strings; compare them as epoch ms like the rows. */
function coerce(value: Key | undefined, like: Key): Key {
  if (value === undefined) return null;
  if (typeof like === 'number' && typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? Number(value) : ms;
  }
  return value;
}

export class LocationContacts {
  readonly byId = new Map<string, ContactRow>();
  private readonly phones = new Map<string, string>();
  private readonly emails = new Map<string, string>();
  /** After a bulk seed the phone/email lookups are rebuilt on first use, not during seeding. */
  private lookupsStale = false;
  private readonly indexes = new Map<string, SortedIndex>();
  /**
   * What search sees while writes lag (like GHL, whose search index trails writes by seconds);
   * null when there is no lag and search sees `byId` directly.
   */
  private searchView: Map<string, ContactRow> | null = null;
  private pending: { due: number; id: string; row: ContactRow | null }[] = [];
  private lagMs = 0;

  constructor(
    readonly locationId: string,
    lagMs = 0,
  ) {
    this.setSearchLag(lagMs);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Contact id by E.164 phone (duplicate search, upsert). */
  get byPhone(): ReadonlyMap<string, string> {
    this.refreshLookups();
    return this.phones;
  }

  /** Contact id by lower-case email. */
  get byEmail(): ReadonlyMap<string, string> {
    this.refreshLookups();
    return this.emails;
  }

  private refreshLookups(): void {
    if (!this.lookupsStale) return;
    this.phones.clear();
    this.emails.clear();
    for (const [id, row] of this.byId) {
      const c = row.contact;
      if (c.phone && !this.phones.has(c.phone)) this.phones.set(c.phone, id);
      if (c.email && !this.emails.has(c.email)) this.emails.set(c.email, id);
    }
    this.lookupsStale = false;
  }

  setSearchLag(ms: number): void {
    if (ms > 0 && !this.searchView) this.searchView = new Map(this.byId);
    if (ms === 0 && this.searchView) {
      this.flush(Infinity);
      this.searchView = null;
    }
    this.lagMs = ms;
  }

  sorted(specs: SortSpec[]): SortedIndex {
    this.flush(Date.now());
    const sig = specs.map((s) => `${s.field}:${s.direction}`).join(',');
    let index = this.indexes.get(sig);
    if (!index) {
      index = new SortedIndex(specs, (this.searchView ?? this.byId).values());
      this.indexes.set(sig, index);
    }
    return index;
  }

  add(contact: Contact): ContactRow {
    const row = contactRow(contact);
    this.put(row);
    this.publish(contact.id, undefined, row);
    return row;
  }

  /** Bulk insert for seeding (visible to search at once): indexes are rebuilt lazily by the next search. */
  addMany(rows: ContactRow[]): void {
    this.indexes.clear();
    this.lookupsStale = true;
    for (const row of rows) {
      this.byId.set(row.contact.id, row);
      this.searchView?.set(row.contact.id, row);
    }
  }

  replace(next: Contact): ContactRow {
    const old = this.byId.get(next.id);
    if (old) this.drop(old);
    const row = contactRow(next);
    this.put(row);
    this.publish(next.id, old, row);
    return row;
  }

  remove(row: ContactRow): void {
    this.drop(row);
    this.publish(row.contact.id, row, null);
  }

  private put(row: ContactRow): void {
    const c = row.contact;
    this.byId.set(c.id, row);
    if (this.lookupsStale) return;
    if (c.phone) this.phones.set(c.phone, c.id);
    if (c.email) this.emails.set(c.email, c.id);
  }

  private drop(row: ContactRow): void {
    const c = row.contact;
    this.byId.delete(c.id);
    if (this.lookupsStale) return;
    if (c.phone && this.phones.get(c.phone) === c.id) this.phones.delete(c.phone);
    if (c.email && this.emails.get(c.email) === c.id) this.emails.delete(c.email);
  }

  /** Reflects a write in search: now, or after the lag. */
  private publish(id: string, old: ContactRow | undefined, next: ContactRow | null): void {
    if (this.searchView) {
      this.pending.push({ due: Date.now() + this.lagMs, id, row: next });
      return;
    }
    for (const index of this.indexes.values()) {
      if (old) index.remove(old);
      if (next) index.insert(next);
    }
  }

  private flush(now: number): void {
    const view = this.searchView;
    if (!view || this.pending.length === 0) return;
    let i = 0;
    for (; i < this.pending.length && this.pending[i]!.due <= now; i++) {
      const { id, row } = this.pending[i]!;
      const old = view.get(id);
      if (old) {
        view.delete(id);
        for (const index of this.indexes.values()) index.remove(old);
      }
      if (row) {
        view.set(id, row);
        for (const index of this.indexes.values()) index.insert(row);
      }
    }
    if (i) this.pending.splice(0, i);
  }
}

// ---------------------------------------------------------------------------------------------
// Filters

export interface LeafFilter {
  field: string;
  operator: string;
  value?: unknown;
}
export interface GroupFilter {
  group: string;
  filters: Filter[];
}
export type Filter = LeafFilter | GroupFilter;
type Predicate = (r: ContactRow) => boolean;

const fieldGetters: Record<string, (r: ContactRow) => unknown> = {
  id: (r) => r.contact.id,
  firstName: (r) => r.contact.firstNameLowerCase,
  firstNameLowerCase: (r) => r.contact.firstNameLowerCase,
  lastName: (r) => r.contact.lastNameLowerCase,
  lastNameLowerCase: (r) => r.contact.lastNameLowerCase,
  contactName: (r) => lowerFields(r).contactName,
  email: (r) => r.contact.email,
  phone: (r) => r.contact.phone,
  companyName: (r) => lowerFields(r).companyName,
  businessName: (r) => lowerFields(r).companyName,
  source: (r) => lowerFields(r).source,
  type: (r) => r.contact.type,
  tags: (r) => r.contact.tags,
  dnd: (r) => r.contact.dnd,
  assignedTo: (r) => r.contact.assignedTo,
  address: (r) => lowerFields(r).address1,
  address1: (r) => lowerFields(r).address1,
  city: (r) => lowerFields(r).city,
  state: (r) => lowerFields(r).state,
  country: (r) => lowerFields(r).country,
  postalCode: (r) => r.contact.postalCode,
  timezone: (r) => r.contact.timezone,
  website: (r) => lowerFields(r).website,
  dateOfBirth: (r) => r.contact.dateOfBirth,
  dateAdded: (r) => r.addedMs,
  dateUpdated: (r) => r.updatedMs,
};
const dateFields = new Set(['dateAdded', 'dateUpdated']);
export const filterableFields = [...Object.keys(fieldGetters), 'customFields.<id>'];

function getterFor(field: string, where: string): (r: ContactRow) => unknown {
  const getter = fieldGetters[field];
  if (getter) return getter;
  const custom = /^customFields?\.(.+)$/.exec(field);
  if (custom) {
    const id = custom[1]!;
    return (r) => {
      const v = r.contact.customFields.find((f) => f.id === id)?.value;
      return typeof v === 'string' ? v.toLowerCase() : (v ?? null);
    };
  }
  return fail(422, [`${where}.field ${field} is not a supported filter field`]);
}

const isPresent = (v: unknown) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0);

function normalizeValue(field: string, v: unknown): unknown {
  if (typeof v === 'string') {
    if (dateFields.has(field)) return toMs(v);
    if (field === 'phone')
      return v.startsWith('+')
        ? v
        : v.replace(/[^\d]/g, '').length === 10
          ? `+1${v.replace(/[^\d]/g, '')}`
          : `+${v.replace(/[^\d]/g, '')}`;
    return v.toLowerCase();
  }
  return v;
}

function toMs(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return Number(v);
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return ms;
  }
  return Number.NaN;
}

function equals(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(actual)) return actual.some((a) => equals(typeof a === 'string' ? a.toLowerCase() : a, expected));
  if (Array.isArray(expected)) return expected.some((e) => equals(actual, e));
  return actual === expected;
}

function contains(actual: unknown, expected: unknown): boolean {
  if (typeof expected !== 'string') return false;
  if (Array.isArray(actual)) return actual.some((a) => typeof a === 'string' && a.toLowerCase().includes(expected));
  return typeof actual === 'string' && actual.includes(expected);
}

export function compileFilters(filters: Filter[] | undefined, query: string | undefined): Predicate | undefined {
  const preds: Predicate[] = (filters ?? []).map((f, i) => compileOne(f, `filters.${i}`));
  if (query && query.trim()) {
    const q = query.trim().toLowerCase();
    const digits = q.replace(/[^\d]/g, '');
    preds.push((r) => rowText(r).includes(q) || (digits.length >= 4 && (r.contact.phone ?? '').includes(digits)));
  }
  if (preds.length === 0) return undefined;
  if (preds.length === 1) return preds[0];
  return (r) => preds.every((p) => p(r));
}

function compileOne(f: Filter, where: string): Predicate {
  if ('group' in f) {
    const group = String(f.group).toUpperCase();
    if (group !== 'AND' && group !== 'OR') fail(422, [`${where}.group must be one of the following values: AND, OR`]);
    if (!Array.isArray(f.filters)) fail(422, [`${where}.filters must be an array`]);
    const parts = f.filters.map((sub, i) => compileOne(sub, `${where}.filters.${i}`));
    return group === 'OR' ? (r) => parts.some((p) => p(r)) : (r) => parts.every((p) => p(r));
  }
  if (typeof f.field !== 'string') return fail(422, [`${where}.field must be a string`]);
  if (typeof f.operator !== 'string') return fail(422, [`${where}.operator must be a string`]);
  const get = getterFor(f.field, where);
  const field = f.field;
  switch (f.operator) {
    case 'eq': {
      const v = normalizeValue(field, f.value);
      // Fast paths for the common shapes; 100k rows are scanned per search.
      if (field === 'tags' && typeof v === 'string') return (r) => r.contact.tags.includes(v);
      if (typeof v === 'string' && field in fieldGetters) return (r) => get(r) === v;
      return (r) => equals(get(r), v);
    }
    case 'not_eq': {
      const v = normalizeValue(field, f.value);
      if (field === 'tags' && typeof v === 'string') return (r) => !r.contact.tags.includes(v);
      return (r) => !equals(get(r), v);
    }
    case 'contains': {
      const v = normalizeValue(field, f.value);
      return (r) => contains(get(r), v);
    }
    case 'not_contains': {
      const v = normalizeValue(field, f.value);
      return (r) => !contains(get(r), v);
    }
    case 'exists':
      return (r) => isPresent(get(r));
    case 'not_exists':
      return (r) => !isPresent(get(r));
    case 'range': {
      const range = f.value;
      if (!range || typeof range !== 'object')
        return fail(422, [`${where}.value must be an object with gte/lte/gt/lt`]);
      const b = range as Record<string, unknown>;
      const conv = (x: unknown) =>
        x === undefined ? undefined : dateFields.has(field) ? toMs(x) : typeof x === 'string' ? x.toLowerCase() : x;
      const [gte, lte, gt, lt] = [conv(b.gte), conv(b.lte), conv(b.gt), conv(b.lt)] as (number | string | undefined)[];
      if ([gte, lte, gt, lt].every((x) => x === undefined)) fail(422, [`${where}.value needs gte, lte, gt or lt`]);
      if ([gte, lte, gt, lt].some((x) => typeof x === 'number' && Number.isNaN(x)))
        fail(422, [`${where}.value has an invalid date`]);
      return (r) => {
        const v = get(r) as number | string | null;
        if (v === null || v === undefined) return false;
        return (
          (gte === undefined || v >= gte) &&
          (lte === undefined || v <= lte) &&
          (gt === undefined || v > gt) &&
          (lt === undefined || v < lt)
        );
      };
    }
    default:
      return fail(422, [
        `${where}.operator must be one of the following values: eq, not_eq, contains, not_contains, exists, not_exists, range`,
      ]);
  }
}
