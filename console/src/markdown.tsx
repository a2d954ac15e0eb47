import DOMPurify from 'dompurify';
import { Marked } from 'marked';
import { useMemo } from 'react';

/**
 * An agent's reply as markdown, made safe. The words may carry text the agent read from untrusted
 * places (emails, CRM notes, callers), so:
 * - raw HTML in the markdown is shown as text, never parsed as markup (so not even the sanitiser's
 *   own parse meets an `onerror`, which Chromium would report against the CSP);
 * - images become their alt text (an image is a beacon to wherever its URL points);
 * - the HTML marked makes then goes through DOMPurify (no scripts, handlers, `javascript:` links,
 *   inline styles), and links open in a new tab without the opener.
 */
const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    html: ({ text }) => escapeHtml(text),
    image: ({ text }) => escapeHtml(text ? `[image: ${text}]` : '[image]'),
  },
});

const purifier = DOMPurify(window);
purifier.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('rel', 'noopener noreferrer nofollow');
    node.setAttribute('target', '_blank');
  }
});

export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false });
  return purifier.sanitize(html, {
    FORBID_TAGS: ['img', 'picture', 'video', 'audio', 'source', 'style', 'form', 'input', 'button', 'iframe'],
    FORBID_ATTR: ['style', 'srcset'],
  });
}

export function Markdown({ text, className }: { text: string; className?: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div className={`markdown ${className ?? ''}`.trim()} dangerouslySetInnerHTML={{ __html: html }} />;
}
