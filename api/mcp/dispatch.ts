import {
  CLIENT_CAPABILITIES_META_KEY,
  isInputRequiredResult,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  type McpServer,
  type ServerContext,
  type StandardSchemaWithJSON,
  type ToolAnnotations,
} from '@modelcontextprotocol/server';

/**
 * Our own `tools/call` dispatch. McpServer turns any error a tool handler throws into an `isError`
 * result, so a tool could never answer a protocol error such as -32021
 * (MissingRequiredClientCapability, HTTP 400). Tools are still registered on McpServer (it serves
 * `tools/list`), but their calls come here: the tool's required client capabilities are checked
 * first, then it runs. Server-level checks (wire schemas, input_required seam, requestState
 * verification, result validation) still wrap this handler, as they wrap McpServer's.
 */

export type ToolOutcome = CallToolResult | InputRequiredResult;

export interface DispatchedTool {
  title: string;
  description: string;
  inputSchema: StandardSchemaWithJSON;
  outputSchema?: StandardSchemaWithJSON;
  annotations: ToolAnnotations;
  /** Capabilities the client must have declared for this call (given its arguments); none when undefined. */
  requires?: (args: Record<string, unknown>) => ClientCapabilities | undefined;
  run(args: Record<string, unknown>, ctx: ServerContext): Promise<ToolOutcome>;
}

/**
 * What the client declared for this request: the 2026-07-28 envelope, else what it said in
 * `initialize` on this connection (stdio). A stateless 2025-era HTTP request has neither: `{}`.
 */
export function clientCapabilities(server: McpServer, ctx: ServerContext): ClientCapabilities {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  return (
    (envelope?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined) ??
    (ctx.mcpReq._meta?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined) ??
    server.server.getClientCapabilities() ??
    {}
  );
}

/** The part of `required` the client did not declare (a capability, or one of its sub-keys). */
export function missingCapabilities(
  required: ClientCapabilities,
  declared: ClientCapabilities,
): ClientCapabilities | undefined {
  const missing: Record<string, unknown> = {};
  for (const [name, want] of Object.entries(required)) {
    const have = (declared as Record<string, unknown>)[name];
    if (have === undefined || have === null) missing[name] = want ?? {};
    else if (want && typeof want === 'object' && typeof have === 'object') {
      const sub = Object.keys(want).filter((k) => (have as Record<string, unknown>)[k] === undefined);
      if (sub.length) missing[name] = Object.fromEntries(sub.map((k) => [k, (want as Record<string, unknown>)[k]]));
    }
  }
  return Object.keys(missing).length ? (missing as ClientCapabilities) : undefined;
}

export interface ToolTable {
  add(name: string, tool: DispatchedTool): void;
  /** Takes over `tools/call` once every tool is added. */
  install(): void;
}

export function toolTable(server: McpServer): ToolTable {
  const tools = new Map<string, { tool: DispatchedTool; outputJson?: Record<string, unknown> }>();
  return {
    add(name, tool) {
      // Registered for tools/list; its calls never reach this callback (see install).
      server.registerTool(
        name,
        {
          title: tool.title,
          description: tool.description,
          inputSchema: tool.inputSchema,
          ...(tool.outputSchema ? { outputSchema: tool.outputSchema } : {}),
          annotations: tool.annotations,
        },
        (args: unknown, ctx: ServerContext) => tool.run((args ?? {}) as Record<string, unknown>, ctx),
      );
      const outputJson = tool.outputSchema?.['~standard'].jsonSchema.output({ target: 'draft-2020-12' });
      tools.set(name, { tool, ...(outputJson ? { outputJson } : {}) });
    },
    install() {
      server.server.removeRequestHandler('tools/call');
      server.server.setRequestHandler('tools/call', async (request, ctx) => {
        const entry = tools.get(request.params.name);
        if (!entry) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Tool ${request.params.name} not found`);
        const args = (request.params.arguments ?? {}) as Record<string, unknown>;
        const required = entry.tool.requires?.(args);
        const missing = required && missingCapabilities(required, clientCapabilities(server, ctx));
        // A JSON-RPC error, not a tool result: the client can declare the capability and retry.
        if (missing)
          throw new MissingRequiredClientCapabilityError(
            { requiredCapabilities: missing },
            `${request.params.name} needs the client capabilities ${Object.keys(missing).join(', ')}`,
          );
        let result: ToolOutcome;
        try {
          result = await entry.tool.run(args, ctx);
        } catch (err) {
          if (err instanceof ProtocolError && err.code === ProtocolErrorCode.UrlElicitationRequired) throw err;
          return { content: [{ type: 'text', text: err instanceof Error ? err.message : String(err) }], isError: true };
        }
        if (isInputRequiredResult(result)) return result;
        return server.server.projectCallToolResult(result, entry.outputJson);
      });
    },
  };
}
