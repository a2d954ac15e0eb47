/** One line of at most `max` characters (what a voice agent is handed, what a call record lists). */
export const oneLine = (s: string, max = 900): string => s.replace(/\s+/g, ' ').trim().slice(0, max);
