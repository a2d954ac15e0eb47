import DOMPurify from 'dompurify';
import { marked } from 'marked';
import { useMemo } from 'react';

/**
 * An agent's reply as markdown, sanitised. The words may carry text the agent read from untrusted
 * places (emails, CRM notes, callers), so marked's HTML is passed through DOMPurify: no scripts, no
 * event handlers, no `javascript:` links. Images, forms and inline styles are dropped too — an image
 * is a beacon to wherever its URL points, and the console's CSP would refuse inline styles anyway.
 */
const purifier = DOMPurify(window);
purifier.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('rel', 'noopener noreferrer nofollow');
    node.setAttribute('target', '_blank');
  }
});

export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false, gfm: true, breaks: true });
  return purifier.sanitize(html, {
    FORBID_TAGS: ['img', 'picture', 'video', 'audio', 'source', 'style', 'form', 'input', 'button', 'iframe'],
    FORBID_ATTR: ['style', 'srcset'],
  });
}

export function Markdown({ text, className }: { text: string; className?: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div className={`markdown ${className ?? ''}`.trim()} dangerouslySetInnerHTML={{ __html: html }} />;
}
