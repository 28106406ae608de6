// Vega-Lite scatter plots of 2-D embeddings, one colour per class; two runs side by side share the class colours.
// Rendered to SVG and PNG with writeChart (src/eval/charts.ts), as the other charts.
import type { TopLevelSpec } from 'vega-lite';

export interface EmbeddedPoint {
  x: number;
  y: number;
  className: string;
  file: string;
}

export interface ScatterPanel {
  /** Lines of the panel's title. */
  title: string[];
  points: readonly EmbeddedPoint[];
}

/** One panel's spec, without the top-level keys (so that it can stand alone or in an hconcat). */
function panel({ title, points }: ScatterPanel, classNames: readonly string[]) {
  return {
    title,
    data: { values: points },
    width: 420,
    height: 420,
    mark: { type: 'circle', size: 40, opacity: 0.8 },
    encoding: {
      // The axes of a projection carry no meaning of their own: none are drawn.
      x: { field: 'x', type: 'quantitative', axis: null, scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', axis: null, scale: { zero: false } },
      color: {
        field: 'className',
        type: 'nominal',
        title: 'class',
        sort: [...classNames],
        scale: { scheme: classNames.length <= 10 ? 'category10' : 'tableau20' },
      },
      tooltip: [{ field: 'file' }, { field: 'className', title: 'class' }],
    },
  };
}

/** A scatter plot of one embedding, or of several side by side (hconcat). */
export function embeddingSpec(
  panels: readonly ScatterPanel[],
  classNames: readonly string[],
  title?: string,
): TopLevelSpec {
  const schema = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json' };
  if (panels.length === 1) return { ...schema, ...panel(panels[0], classNames) } as TopLevelSpec;
  // Titles are limited to a panel's width: a longer one (a long run name) would push the panels apart.
  return {
    ...schema,
    ...(title ? { title } : {}),
    hconcat: panels.map((p) => panel(p, classNames)),
    config: { title: { limit: 420 } },
  } as TopLevelSpec;
}
