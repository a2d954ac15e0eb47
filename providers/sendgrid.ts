import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import type { ProviderConfig } from '../lib/config.js';

/**
 * SendGrid v3 mail send through the official SDK (`@sendgrid/mail` on `@sendgrid/client`), pointed at
 * the configured base URL: the live API, or the provider sandbox's `/sendgrid`. The SDK does not
 * retry; Temporal does, and only when trying again can help (429, 5xx, network).
 */

export interface OutgoingEmail {
  to: string;
  from: { email: string; name?: string };
  replyTo?: string;
  subject: string;
  text: string;
  /** Returned flattened in every Event Webhook event for this email: how events find their lead. */
  customArgs: Record<string, string>;
  /** Extra headers (List-Unsubscribe, List-Unsubscribe-Post). */
  headers?: Record<string, string>;
}

export class SendgridError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    /** True when the same send may succeed later. */
    readonly retryable: boolean,
  ) {
    super(`SendGrid mail send failed${status ? ` (${status})` : ''}: ${message}`);
    this.name = 'SendgridError';
  }
}

export interface Mailer {
  source: 'live' | 'sandbox';
  send(email: OutgoingEmail): Promise<{ messageId: string }>;
}

export function createSendgridMailer(provider: ProviderConfig): Mailer {
  const client = new Client();
  // The SDK warns about keys without SendGrid's prefix; the sandbox accepts any key.
  client.setApiKey(
    provider.mode === 'sandbox' && !provider.apiKey.startsWith('SG.') ? `SG.${provider.apiKey}` : provider.apiKey,
  );
  client.setDefaultRequest('baseUrl', `${provider.baseUrl.replace(/\/+$/, '')}/`);
  const mail = new MailService();
  mail.setClient(client);
  return {
    source: provider.mode,
    async send(email) {
      try {
        const [res] = await mail.send({
          to: email.to,
          from: email.from,
          ...(email.replyTo ? { replyTo: email.replyTo } : {}),
          subject: email.subject,
          text: email.text,
          customArgs: email.customArgs,
          ...(email.headers ? { headers: email.headers } : {}),
        });
        const messageId = res.headers['x-message-id'];
        if (typeof messageId !== 'string' || !messageId)
          throw new SendgridError(res.statusCode, 'the answer carried no X-Message-Id', false);
        return { messageId };
      } catch (err) {
        if (err instanceof SendgridError) throw err;
        const e = err as {
          code?: number;
          message?: string;
          response?: { body?: { errors?: { message?: string; field?: string | null }[] } };
        };
        const status = typeof e.code === 'number' && e.code >= 100 ? e.code : undefined;
        const detail =
          e.response?.body?.errors?.map((x) => (x.field ? `${x.field}: ${x.message}` : x.message)).join('; ') ||
          e.message ||
          String(err);
        throw new SendgridError(status, detail, status === undefined || status === 429 || status >= 500);
      }
    },
  };
}
