/**
 * A Vega-Lite spec rendered to an SVG document (a string starting with `<svg`) with vega's
 * headless renderer: the one place plots become SVG, for the training curves (Node and the page),
 * the report's ROC/PR curves and the robustness plot. Browser-safe; vega and vega-lite are loaded
 * on first use. SVG definition ids restart at every render, so the same spec gives the same bytes.
 */
import type { TopLevelSpec } from 'vega-lite';

export async function renderVegaLiteSvg(spec: object): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vl.compile(spec as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Warn });
  try {
    vega.resetSVGDefIds();
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
