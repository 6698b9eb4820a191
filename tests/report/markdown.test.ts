/** report.md → HTML: the constructs reports use render as HTML; anything else is escaped text; unsafe links are dropped. */
import { describe, expect, test } from "bun:test"
import { markdownTable } from "../../shared/engine/report.ts"
import { inline, markdownToHtml } from "../../shared/report/markdown.ts"

describe("markdownToHtml", () => {
  test("headings (with ids, repeated ones numbered), paragraphs joined across lines", () => {
    const html = markdownToHtml("# demo\n\nRun 2026 — seed 0,\nbackend torch.\n\n## Steps (3)\n\n### LW (no BN)\n\n### LW (no BN)\n")
    expect(html).toBe(
      [
        '<h1 id="demo">demo</h1>',
        "<p>Run 2026 — seed 0,\nbackend torch.</p>",
        '<h2 id="steps-3">Steps (3)</h2>',
        '<h3 id="lw-no-bn">LW (no BN)</h3>',
        '<h3 id="lw-no-bn-1">LW (no BN)</h3>'
      ].join("\n")
    )
  })

  test("a table as markdownTable writes it, escaped pipes kept in their cell", () => {
    const md = markdownTable(["step", "key"], [["train", "a|b"], ["evaluate", "<c>"]])
    const html = markdownToHtml(`before\n\n${md}\n\nafter`)
    expect(html).toContain("<thead><tr><th>step</th><th>key</th></tr></thead>")
    expect(html).toContain("<tr><td>train</td><td>a|b</td></tr>")
    expect(html).toContain("<tr><td>evaluate</td><td>&lt;c&gt;</td></tr>")
    expect(html.startsWith("<p>before</p>\n<table>")).toBe(true)
    expect(html.endsWith("</table>\n<p>after</p>")).toBe(true)
  })

  test("a table right after a paragraph line starts its own block", () => {
    const html = markdownToHtml("Text:\n| a | b |\n| --- | ---: |\n| 1 | 2 |")
    expect(html).toBe('<p>Text:</p>\n<table>\n<thead><tr><th>a</th><th style="text-align:right">b</th></tr></thead>\n<tbody>\n<tr><td>1</td><td style="text-align:right">2</td></tr>\n</tbody></table>')
  })

  test("bullet and numbered lists, continuation lines, fenced code kept verbatim", () => {
    expect(markdownToHtml("- one\n- two\n  more\n\n1. first\n2. second")).toBe(
      "<ul>\n<li>one</li>\n<li>two\nmore</li>\n</ul>\n<ol>\n<li>first</li>\n<li>second</li>\n</ol>"
    )
    expect(markdownToHtml("```sh\nbun run x.ts --a <b> # *not em*\n```")).toBe(
      '<pre><code class="language-sh">bun run x.ts --a &lt;b&gt; # *not em*</code></pre>'
    )
  })

  test("inline: code, strong, emphasis, links and images; underscores inside words stay", () => {
    expect(inline("`results.json` **bold** *em* _em_ snake_case_name 3 * 4 * 5")).toBe(
      "<code>results.json</code> <strong>bold</strong> <em>em</em> <em>em</em> snake_case_name 3 * 4 * 5"
    )
    expect(inline("[CACHE](shared/engine/CACHE.md) ![a fig](figures/x.svg)")).toBe(
      '<a href="shared/engine/CACHE.md">CACHE</a> <img src="figures/x.svg" alt="a fig">'
    )
    expect(inline("\\*literal\\* \\| pipe")).toBe("*literal* | pipe")
  })

  test("markup in the text is escaped; javascript: and data: links are dropped", () => {
    expect(markdownToHtml('<script>alert("x")</script>')).toBe("<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>")
    expect(inline("[click](javascript:alert(1))")).not.toContain("href")
    expect(inline("![x](data:image/svg+xml;base64,AAAA)")).not.toContain("src")
  })

  test("a paragraph that is one image can be replaced by the caller (report.html's inline figures)", () => {
    const html = markdownToHtml("### A\n\n![A](figures/a.svg)\n\nCaption.", {
      figure: (src, alt) => (src === "figures/a.svg" ? `<div class="figure">${alt}</div>` : undefined)
    })
    expect(html).toBe('<h3 id="a">A</h3>\n<div class="figure">A</div>\n<p>Caption.</p>')
    expect(markdownToHtml("![B](figures/b.svg)", { figure: () => undefined })).toBe('<p><img src="figures/b.svg" alt="B"></p>')
  })
})
