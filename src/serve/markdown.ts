// The Claims page's report: Markdown rendered to HTML, with what data put in it kept as text.

import { Marked } from 'marked';

/**
 * The report's Markdown as HTML. Its text comes partly from data (captions, prompts), so raw HTML
 * in it is escaped, except the <details> and <summary> tags the reports use, and links keep only
 * http(s), relative and anchor targets.
 */
const markdown = new Marked({
  renderer: {
    html({ text }) {
      return text
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/&lt;(\/?)(details|summary)&gt;/g, '<$1$2>');
    },
    link({ href, tokens }) {
      // The link text is rendered as inline Markdown like any other, so raw HTML in it is escaped by
      // html() above (its raw `text` would reach the page as it is). A link to another Markdown file
      // of the report folder has no page here: its text only.
      const text = this.parser.parseInline(tokens);
      return /^(https?:|\/|#|[\w.-]+(\/|$))/i.test(href) && !/^javascript:/i.test(href) && !href.endsWith('.md')
        ? `<a href="${href.replace(/"/g, '&quot;')}">${text}</a>`
        : text;
    },
  },
});

export async function renderReport(md: string): Promise<string> {
  return markdown.parse(md);
}
