// The visual report of a NAAF-vs-SCAN run: one self-contained HTML page (tables, inline SVG
// charts, query panels with the scenes' pictures). Runtime-neutral; writeReport is Node-only.
export { renderReport, renderTable, renderQueryPanel, bestIndices } from './html.js';
export type { RecallRow, MethodResult, EpochPoint, WordTerm, RetrievedImage, QueryPanel, ReportData } from './types.js';
export { lineChart, histogramChart, niceTicks, formatTick, binValues, PALETTE } from './charts.js';
export type { Series, LineChartOptions, HistogramGroup, HistogramOptions, Marker } from './charts.js';
export { escapeHtml } from './escape.js';
export { writeReport } from './write.js';
