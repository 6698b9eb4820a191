/**
 * report.html: report.md's content as one self-contained page — CSS inline, every figure's SVG inline in a light and a
 * dark version (switched by `prefers-color-scheme`), nothing loaded from anywhere, so it opens offline from disk.
 */
import { escapeHtml, markdownToHtml } from "./markdown.ts"
import { pageBackground } from "./theme.ts"

/** A drawn figure: its SVG in both themes, ids already scoped per figure and theme. */
export interface DrawnFigure {
  readonly id: string
  readonly title: string
  readonly light: string
  readonly dark: string
}

const css = `
:root { color-scheme: light dark; --bg: ${pageBackground.light}; --fg: #1d1f24; --muted: #5b6070; --rule: #d9dbe0; --stripe: #f5f6f8; --code: #f0f1f4; --link: #0b5cad; }
body { margin: 0 auto; padding: 24px 28px 64px; max-width: 1200px; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1, h2, h3 { line-height: 1.25; margin: 1.6em 0 0.5em; }
h1 { margin-top: 0.4em; }
h2 { border-bottom: 1px solid var(--rule); padding-bottom: 0.2em; }
a { color: var(--link); }
code, pre { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--code); border-radius: 4px; }
code { padding: 0.1em 0.3em; }
pre { padding: 10px 12px; overflow-x: auto; }
pre code { padding: 0; background: none; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 13.5px; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid var(--rule); padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: var(--stripe); font-weight: 600; }
tbody tr:nth-child(even) { background: var(--stripe); }
.figure { margin: 0.6em 0 0.3em; overflow-x: auto; }
.figure .dark { display: none; }
.figure svg { max-width: 100%; height: auto; }
.figure + p { color: var(--muted); font-size: 14px; margin-top: 0.2em; }
/* Last: it overrides the light defaults above (same specificity, later wins). */
@media (prefers-color-scheme: dark) {
  :root { --bg: ${pageBackground.dark}; --fg: #e8e8ea; --muted: #a3a7b3; --rule: #34363d; --stripe: #1e2026; --code: #23252c; --link: #7ab4ff; }
  .figure .light { display: none; }
  .figure .dark { display: block; }
}
`

/** The page: the report's markdown with each linked figure (`figures/<id>.svg`) drawn inline. */
export const reportHtml = (title: string, markdown: string, figures: ReadonlyArray<DrawnFigure>): string => {
  const byFile = new Map(figures.map((f) => [`figures/${f.id}.svg`, f]))
  const body = markdownToHtml(markdown, {
    figure: (src) => {
      const f = byFile.get(src)
      return f === undefined
        ? undefined
        : [
            `<div class="figure" id="figure-${escapeHtml(f.id)}" role="img" aria-label="${escapeHtml(f.title)}">`,
            `<div class="light">${f.light}</div>`,
            `<div class="dark">${f.dark}</div>`,
            "</div>"
          ].join("\n")
    }
  })
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${css}</style>`,
    "</head>",
    "<body>",
    body,
    "</body>",
    "</html>",
    ""
  ].join("\n")
}
