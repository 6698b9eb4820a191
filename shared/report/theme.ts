/**
 * The two looks every figure is drawn in: light (also the SVG files beside report.md, on an opaque white background
 * so they read on a forge in either mode) and dark (report.html switches with `prefers-color-scheme`).
 * Vega-Lite config only: the chart builders name no colour, so one spec serves both.
 */

export type Theme = "light" | "dark"

const font = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

// Tableau 10 reads on white and on near-black alike; the sequential ramp (depth, heatmaps) is cut so that neither
// end vanishes into the background: viridis's dark purple end is dropped on dark, its pale yellow end on light.
const common = {
  font,
  padding: 8,
  range: { category: { scheme: "tableau10" } },
  axis: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: "normal", labelLimit: 300 },
  legend: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: "normal", labelLimit: 400, titleLimit: 300 },
  header: { labelFontSize: 11, titleFontSize: 11, labelLimit: 300 },
  point: { size: 24 },
  // No per-item aria-label: it repeats every data field of every mark (a 36 × 36 decision map grew to 1.5 MB with them).
  // Each figure keeps its title and caption as its accessible description in report.html.
  mark: { aria: false }
}

export const pageBackground: Record<Theme, string> = { light: "#ffffff", dark: "#17181c" }

export const themeConfig = (theme: Theme): Record<string, unknown> =>
  theme === "light"
    ? {
        ...common,
        background: pageBackground.light,
        range: { ...common.range, ramp: { scheme: "viridis", extent: [0, 0.85] }, heatmap: { scheme: "viridis", extent: [0, 0.85] } }
      }
    : {
        ...common,
        background: pageBackground.dark,
        range: { ...common.range, ramp: { scheme: "viridis", extent: [0.2, 1] }, heatmap: { scheme: "viridis", extent: [0.2, 1] } },
        view: { stroke: "#4a4d55" },
        title: { color: "#e8e8ea" },
        style: { "guide-label": { fill: "#c9cbd1" }, "guide-title": { fill: "#e8e8ea" }, "group-title": { fill: "#e8e8ea" }, text: { fill: "#e8e8ea" } },
        axis: { ...common.axis, domainColor: "#8a8d96", gridColor: "#34363d", tickColor: "#8a8d96", labelColor: "#c9cbd1", titleColor: "#e8e8ea" },
        legend: { ...common.legend, labelColor: "#c9cbd1", titleColor: "#e8e8ea" },
        header: { ...common.header, labelColor: "#e8e8ea", titleColor: "#e8e8ea" },
        rule: { stroke: "#c9cbd1" }
      }
