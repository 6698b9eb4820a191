/**
 * report.md to HTML: the constructs lwi's reports use, and only those — ATX headings, paragraphs, pipe tables (with
 * `\|` escapes), bullet and numbered lists, fenced code, and inline code, **strong**, *emphasis*, links and images.
 * Everything else is text, HTML-escaped: a report can never inject markup. A paragraph that is one image alone can
 * be replaced by the caller (report.html draws figures inline there instead of linking the SVG file).
 */

export interface MarkdownOptions {
  /** HTML for a paragraph that is only `![alt](src)`; undefined keeps the plain image. */
  readonly figure?: (src: string, alt: string) => string | undefined
}

export const escapeHtml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** Relative paths, fragments and http(s)/mailto links survive; any other scheme (javascript:, data:) is dropped. */
const safeUrl = (url: string): string | undefined => {
  const scheme = url.match(/^\s*([a-z][a-z0-9+.-]*):/i)?.[1]?.toLowerCase()
  return scheme === undefined || scheme === "http" || scheme === "https" || scheme === "mailto" ? url : undefined
}

/** Inline markdown of one line (already split into blocks) to HTML. */
export const inline = (text: string): string => {
  const out: string[] = []
  let i = 0
  let plain = ""
  const flush = () => {
    if (plain !== "") out.push(escapeHtml(plain))
    plain = ""
  }
  while (i < text.length) {
    const rest = text.slice(i)
    let m: RegExpMatchArray | null
    if (rest[0] === "\\" && i + 1 < text.length && /[\\`*_[\]()#+\-.!|<>]/.test(text[i + 1]!)) {
      plain += text[i + 1]
      i += 2
    } else if ((m = rest.match(/^(`+)([\s\S]*?[^`])\1(?!`)/))) {
      flush()
      out.push(`<code>${escapeHtml(m[2]!.trim())}</code>`)
      i += m[0].length
    } else if ((m = rest.match(/^!\[([^\]]*)\]\(([^)\s]+)\)/))) {
      flush()
      const src = safeUrl(m[2]!)
      out.push(src === undefined ? escapeHtml(m[1]!) : `<img src="${escapeHtml(src)}" alt="${escapeHtml(m[1]!)}">`)
      i += m[0].length
    } else if ((m = rest.match(/^\[([^\]]+)\]\(([^)\s]+)\)/))) {
      flush()
      const href = safeUrl(m[2]!)
      out.push(href === undefined ? inline(m[1]!) : `<a href="${escapeHtml(href)}">${inline(m[1]!)}</a>`)
      i += m[0].length
    } else if ((m = rest.match(/^\*\*(?=\S)([\s\S]*?\S)\*\*/)) || (m = rest.match(/^__(?=\S)([\s\S]*?\S)__(?!\w)/))) {
      flush()
      out.push(`<strong>${inline(m[1]!)}</strong>`)
      i += m[0].length
    } else if (
      ((m = rest.match(/^\*(?=[^\s*])([^*]*?[^\s*])\*/)) || (m = rest.match(/^_(?=[^\s_])([^_]*?[^\s_])_(?!\w)/))) &&
      (i === 0 || !/\w/.test(text[i - 1]!))
    ) {
      flush()
      out.push(`<em>${inline(m[1]!)}</em>`)
      i += m[0].length
    } else {
      plain += text[i]
      i += 1
    }
  }
  flush()
  return out.join("")
}

/** Splits a table row on unescaped pipes; `\|` stays in the cell as `|`. */
const cells = (row: string): string[] => {
  const body = row.trim().replace(/^\|/, "").replace(/(?<!\\)\|$/, "")
  return body.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"))
}

const isTableSeparator = (line: string) => /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line)
const bullet = /^\s*[-*+]\s+(.*)$/
const numbered = /^\s*\d+[.)]\s+(.*)$/
const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/
const fence = /^\s*(```|~~~)\s*([\w-]*)\s*$/

/** The HTML id of a heading: its text, lower case, words joined by dashes. */
export const slug = (text: string): string =>
  text
    .toLowerCase()
    .replace(/<[^>]*>/g, "")
    .replace(/[^\p{L}\p{N}]+/gu, "-")
    .replace(/^-|-$/g, "")

export const markdownToHtml = (md: string, options: MarkdownOptions = {}): string => {
  const lines = md.replace(/\r\n?/g, "\n").split("\n")
  const html: string[] = []
  const slugs = new Map<string, number>()
  let i = 0
  const blockStart = (line: string, next: string | undefined) =>
    line.trim() === "" ||
    heading.test(line) ||
    fence.test(line) ||
    bullet.test(line) ||
    numbered.test(line) ||
    (line.includes("|") && next !== undefined && isTableSeparator(next))
  while (i < lines.length) {
    const line = lines[i]!
    let m: RegExpMatchArray | null
    if (line.trim() === "") {
      i++
    } else if ((m = line.match(fence))) {
      const body: string[] = []
      i++
      while (i < lines.length && !new RegExp(`^\\s*${m[1]}\\s*$`).test(lines[i]!)) body.push(lines[i++]!)
      i++ // the closing fence (or the end)
      html.push(`<pre><code${m[2] ? ` class="language-${escapeHtml(m[2])}"` : ""}>${escapeHtml(body.join("\n"))}</code></pre>`)
    } else if ((m = line.match(heading))) {
      const level = m[1]!.length
      const base = slug(m[2]!) || "section"
      const seen = slugs.get(base) ?? 0
      slugs.set(base, seen + 1)
      html.push(`<h${level} id="${seen === 0 ? base : `${base}-${seen}`}">${inline(m[2]!)}</h${level}>`)
      i++
    } else if (line.includes("|") && i + 1 < lines.length && isTableSeparator(lines[i + 1]!)) {
      const header = cells(line)
      const align = cells(lines[i + 1]!).map((c) => (c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : c.startsWith(":") ? "left" : ""))
      const style = (k: number) => (align[k] ? ` style="text-align:${align[k]}"` : "")
      i += 2
      const rows: string[][] = []
      while (i < lines.length && lines[i]!.includes("|") && lines[i]!.trim() !== "") rows.push(cells(lines[i++]!))
      html.push(
        [
          "<table>",
          `<thead><tr>${header.map((h, k) => `<th${style(k)}>${inline(h)}</th>`).join("")}</tr></thead>`,
          `<tbody>`,
          ...rows.map((r) => `<tr>${header.map((_, k) => `<td${style(k)}>${inline(r[k] ?? "")}</td>`).join("")}</tr>`),
          "</tbody></table>"
        ].join("\n")
      )
    } else if (bullet.test(line) || numbered.test(line)) {
      const ordered = !bullet.test(line)
      const item = ordered ? numbered : bullet
      const items: string[] = []
      while (i < lines.length && item.test(lines[i]!)) {
        let text = lines[i]!.match(item)![1]!
        i++
        // Continuation lines: indented, not a new item or block.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]!) && !bullet.test(lines[i]!) && !numbered.test(lines[i]!)) text += `\n${lines[i++]!.trim()}`
        items.push(`<li>${inline(text)}</li>`)
      }
      html.push(`<${ordered ? "ol" : "ul"}>\n${items.join("\n")}\n</${ordered ? "ol" : "ul"}>`)
    } else {
      const para: string[] = [line.trim()]
      i++
      while (i < lines.length && !blockStart(lines[i]!, lines[i + 1])) para.push(lines[i++]!.trim())
      const text = para.join("\n")
      const image = text.match(/^!\[([^\]]*)\]\(([^)\s]+)\)$/)
      const replaced = image && options.figure ? options.figure(image[2]!, image[1]!) : undefined
      html.push(replaced ?? `<p>${inline(text)}</p>`)
    }
  }
  return html.join("\n")
}
