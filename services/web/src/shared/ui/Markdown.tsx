import ReactMarkdown, { type Components } from 'react-markdown';

/**
 * Markdown that people wrote (notes on an incident's timeline), rendered without trusting it.
 * react-markdown builds React elements from the Markdown syntax tree and never sets innerHTML:
 * raw HTML in the text is dropped (`skipHtml`), and its default URL filter turns links and images
 * to anything but http, https, mailto, irc, xmpp and relative addresses into empty ones, so a
 * `javascript:` link cannot be written. Images are shown as their alt text: a note should not
 * make every reader's browser fetch an address its author chose.
 */
export function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown space-y-2 text-sm break-words">
      <ReactMarkdown skipHtml components={components}>
        {text}
      </ReactMarkdown>
    </div>
  );
}

const components: Components = {
  a: ({ href, children }) => (
    <a href={href} target="_blank" rel="noreferrer noopener" className="text-accent underline">
      {children}
    </a>
  ),
  img: ({ alt }) => <span>{alt}</span>,
  ul: ({ children }) => <ul className="list-disc pl-5">{children}</ul>,
  ol: ({ children }) => <ol className="list-decimal pl-5">{children}</ol>,
  code: ({ children }) => <code className="rounded bg-subtle px-1 font-mono text-xs">{children}</code>,
  pre: ({ children }) => <pre className="overflow-x-auto rounded bg-subtle p-2">{children}</pre>,
};
