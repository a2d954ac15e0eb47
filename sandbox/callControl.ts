import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { issueLines } from './context.js';

/** What the control routes read of one simulated call (Vapi's and Retell's simulations alike). */
export interface ControlledSimulation {
  id: string;
  direction: string;
  state: string;
  outcome: string;
  problems: string[];
}

/** One call simulator's side of the control routes; the routes themselves are the same for Vapi and Retell. */
export interface CallControl<Sim extends ControlledSimulation, Body extends { wait: boolean }, Config> {
  /** `POST /calls`: the body of a simulated call, and how to start one. */
  simulateBody: z.ZodType<Body>;
  simulate(body: Body): Sim;
  /** Settles when the simulation has been played (`wait: true`). */
  finished(sim: Sim): Promise<void> | undefined;
  simulations(): ReadonlyMap<string, Sim>;
  /** The provider's own call status, for `GET /calls`. */
  callStatus(sim: Sim): string;
  /** `POST /config`: where calls the provider's API starts are played. */
  configBody: z.ZodType<Config>;
  configure(config: Config): void;
  /** `POST /<path> {<idField>}`: one more known assistant (Vapi) or agent (Retell). */
  agents: { path: string; idField: string; add(id: string): void };
}

/** The control routes of a call simulator, under `/__sandbox/<provider>`: play a call, list, inspect, configure. */
export function registerCallControl<Sim extends ControlledSimulation, Body extends { wait: boolean }, Config>(
  app: FastifyInstance,
  control: CallControl<Sim, Body, Config>,
): void {
  app.post('/calls', async (req, reply) => {
    const parsed = control.simulateBody.safeParse(req.body);
    if (!parsed.success)
      return reply.status(400).send({ error: 'invalid body', issues: issueLines(parsed.error.issues) });
    const b = parsed.data;
    const sim = control.simulate(b);
    if (b.wait) await control.finished(sim);
    return reply.status(201).send(b.wait ? sim : { id: sim.id, state: sim.state });
  });
  app.get('/calls', async () => ({
    calls: [...control.simulations().values()].map((s) => ({
      id: s.id,
      direction: s.direction,
      state: s.state,
      outcome: s.outcome,
      status: control.callStatus(s),
      problems: s.problems.length,
    })),
  }));
  app.get('/calls/:id', async (req, reply) => {
    const sim = control.simulations().get((req.params as { id: string }).id);
    if (!sim) return reply.status(404).send({ error: 'no such simulated call' });
    return sim;
  });
  app.post('/config', async (req, reply) => {
    const parsed = control.configBody.safeParse(req.body);
    if (!parsed.success)
      return reply.status(400).send({ error: 'invalid body', issues: issueLines(parsed.error.issues) });
    control.configure(parsed.data);
    return { ok: true };
  });
  const AgentBody = z.object({ [control.agents.idField]: z.string().min(1) });
  app.post(control.agents.path, async (req, reply) => {
    const parsed = AgentBody.safeParse(req.body);
    if (!parsed.success)
      return reply.status(400).send({ error: 'invalid body', issues: issueLines(parsed.error.issues) });
    control.agents.add(parsed.data[control.agents.idField]!);
    return reply.status(201).send({ ok: true });
  });
}
