import { createHash } from 'node:crypto';

/**
 * The sign-in and consent pages of the OAuth flow: plain server-rendered HTML, no script, one
 * inline style allowed by its hash, forms that post back to the same origin with a CSRF token.
 * Every value shown is escaped (a client's name and URL are chosen by a stranger).
 */

const STYLE = `body{font:16px/1.45 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem}dt{font-weight:600;margin-top:.6rem}dd{margin:0;word-break:break-all}
label{display:block;margin-top:.8rem}input{width:100%;padding:.45rem;font:inherit;box-sizing:border-box}
.actions{display:flex;gap:.8rem;margin-top:1.4rem}button{font:inherit;padding:.5rem 1.2rem;cursor:pointer}
.allow{background:#1c5dd6;color:#fff;border:0;border-radius:4px}.deny{background:#fff;border:1px solid #888;border-radius:4px}
.error{color:#a40000}.muted{color:#555;font-size:.9rem}code{font-size:.9rem}`;
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

export const esc = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The page's Content-Security-Policy: nothing but its own style; forms go to us (and on to the client). */
export function consentCsp(formTargets: string[]): string {
  return [
    "default-src 'none'",
    `style-src 'sha256-${STYLE_HASH}'`,
    "img-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    // Browsers apply form-action to the redirects after a post: the client's redirect URI must be allowed.
    `form-action 'self' ${formTargets.join(' ')}`.trim(),
  ].join('; ');
}

export const SCOPE_TEXT: Record<string, string> = {
  read: 'read your CRM data, calls, campaigns and audit trail',
  act: 'act for you: book appointments, send SMS and email, place calls, run campaigns and syncs',
  admin: 'manage the tenant: connections, credentials, users and keys',
};

export interface ClientView {
  name: string;
  clientId: string;
  redirectHost: string;
  /** True when client_id is a metadata document URL (its name is the client's own claim). */
  metadataDocument: boolean;
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer"><title>${esc(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

function clientBlock(c: ClientView): string {
  return `<dl><dt>Application</dt><dd>${esc(c.name)}</dd><dt>Client ID</dt><dd><code>${esc(c.clientId)}</code></dd><dt>Returns you to</dt><dd><code>${esc(c.redirectHost)}</code></dd></dl>`;
}

export function signInPage(opts: { action: string; csrf: string; client: ClientView; error?: string; email?: string }) {
  return page(
    'Sign in to Switchboard',
    `<h1>Sign in to connect ${esc(opts.client.name)}</h1>${clientBlock(opts.client)}
${opts.error ? `<p class="error" role="alert">${esc(opts.error)}</p>` : ''}
<form method="post" action="${esc(opts.action)}">
<input type="hidden" name="csrf" value="${esc(opts.csrf)}">
<label>Email<input name="email" type="email" autocomplete="username" required value="${esc(opts.email ?? '')}"></label>
<label>Password<input name="password" type="password" autocomplete="current-password" required></label>
<label>Tenant ID <span class="muted">(only if your email belongs to several tenants)</span><input name="tenantId" autocomplete="off"></label>
<div class="actions"><button class="allow" type="submit">Sign in</button></div></form>`,
  );
}

export function consentPage(opts: {
  action: string;
  csrf: string;
  client: ClientView;
  tenant: { id: string; name: string };
  user: { email: string; role: string };
  granted: string[];
  withheld: string[];
}) {
  const granted = opts.granted.length
    ? `<ul>${opts.granted.map((s) => `<li><strong>${esc(s)}</strong>: ${esc(SCOPE_TEXT[s] ?? s)}</li>`).join('')}</ul>`
    : '<p class="error">Your role allows none of the access this application asks for.</p>';
  const withheld = opts.withheld.length
    ? `<p class="muted">Also asked for, but your role (${esc(opts.user.role)}) does not allow: ${opts.withheld.map(esc).join(', ')}.</p>`
    : '';
  return page(
    'Allow access to Switchboard?',
    `<h1>${esc(opts.client.name)} wants to use Switchboard</h1>${clientBlock(opts.client)}
${opts.client.metadataDocument ? '<p class="muted">The name is what the application says about itself; the client ID is the address it is published at.</p>' : ''}
<p>Signed in as <strong>${esc(opts.user.email)}</strong> on tenant <strong>${esc(opts.tenant.name)}</strong> (<code>${esc(opts.tenant.id)}</code>).</p>
<p>It will be able to:</p>${granted}${withheld}
<form method="post" action="${esc(opts.action)}">
<input type="hidden" name="csrf" value="${esc(opts.csrf)}">
<div class="actions">${opts.granted.length ? '<button class="allow" type="submit" name="decision" value="allow">Allow</button>' : ''}<button class="deny" type="submit" name="decision" value="deny">Deny</button></div></form>
<p class="muted">You can disconnect it at any time (owners: GET/DELETE /v1/oauth/clients).</p>`,
  );
}

export function messagePage(title: string, message: string) {
  return page(title, `<h1>${esc(title)}</h1><p>${esc(message)}</p>`);
}
