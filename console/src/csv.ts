// The one CSV reader, shared with the server (lib/csv.ts): the preview splits rows as the API will.
export { parseCsv } from '../../lib/csv';
