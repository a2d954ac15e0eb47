/**
 * The personas' icons as small inline SVGs (emoji need a colour-emoji font the machine may not have).
 * Names as the API stores them; an unknown name draws a sparkle. Stroked in the agent's colour.
 */
const PATHS: Record<string, string[]> = {
  compass: ['M12 2a10 10 0 1 0 0.01 0Z', 'M15.5 8.5 13.4 13.4 8.5 15.5 10.6 10.6Z'],
  hammer: ['M4 20 13 11', 'M11 5l4-2 6 6-2 4-3-3-3 1-3-3 1-3Z'],
  handshake: ['M2 12l4-4 4 2 3-2 3 1 6 4', 'M6 14l3 3 2-1 2 2 2-1 2 1 3-4', 'M10 10l3 3'],
  gears: [
    'M12 8.5a3.5 3.5 0 1 0 0.01 0Z',
    'M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1 7 17M17 7l2.1-2.1',
  ],
  sparkles: ['M12 3l2 7 7 2-7 2-2 7-2-7-7-2 7-2Z'],
};

export function AgentIcon({ name, colour }: { name: string; colour: string }) {
  const paths = PATHS[name] ?? PATHS.sparkles!;
  return (
    <svg
      viewBox="0 0 24 24"
      width="22"
      height="22"
      aria-hidden="true"
      focusable="false"
      fill="none"
      stroke={colour}
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
    >
      {paths.map((d) => (
        <path key={d} d={d} />
      ))}
    </svg>
  );
}
