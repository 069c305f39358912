// Types of the vendored uPlot: those of the npm package of the same version (a devDependency),
// so that TypeScript checks charts.js against them instead of type-checking uPlot's own JS.
import uPlot from 'uplot';

export default uPlot;
