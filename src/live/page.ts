// report/live/index.html: the live search page's markup. The page runs ./app.js (a module that
// takes the engine from ./naaf-webgpu.js, the browser bundle); its Content-Security-Policy allows
// scripts and fetches from its own origin only, WebAssembly compiled by that script (the CPU
// backend: 'wasm-unsafe-eval') and its worker threads started from blob: URLs.
import { escapeHtml as esc } from '../report/escape.js';
import { REPORT_CSS, pageHead } from '../report/html.js';

const LIVE_CSS = `
.bar{display:flex;gap:8px;flex-wrap:wrap;align-items:center;margin:12px 0}
#query{flex:1 1 420px;font:inherit;padding:8px 10px;border:1px solid #9ca3af;border-radius:6px}
button,select{font:inherit;padding:6px 12px;border:1px solid #9ca3af;border-radius:6px;background:#fff;cursor:pointer}
button:disabled,select:disabled,#query:disabled{opacity:.5;cursor:default}
#examples{max-width:420px}
#status{color:#4b5563;margin:4px 0}
#status.error,#notice.error{color:#991b1b}
#notice{margin:4px 0;min-height:1.5em}
#noengine{background:#fff7ed;border:1px solid #fdba74;border-radius:8px;padding:12px 16px}
#noengine code{background:#fff;padding:1px 4px;border-radius:4px}
.word.unknown{background:#fef9c3;border-color:#ca8a04;border-style:dashed}
.columns{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px}
.columns .results{grid-template-columns:repeat(5,minmax(70px,1fr))}
.scene{cursor:pointer}
.scene.selected{box-shadow:0 0 0 3px #2563eb}
.timing{color:#6b7280;font-size:13px;font-weight:400}
`;

export function renderLivePage(title: string): string {
  return `${pageHead(title, "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src blob:; connect-src 'self'; style-src 'unsafe-inline'; img-src data:",
    REPORT_CSS + LIVE_CSS, '<script type="module" src="./app.js"></script>\n')}
<body data-state="loading">
<main>
<header>
<h1>${esc(title)}</h1>
<p class="meta-line">Type a caption: NAAF and SCAN t2i rank the test scenes live, in this browser (on its GPU through WebGPU, or its CPU through WebAssembly SIMD). <a href="../">The report</a>.</p>
<p id="status">Loading…</p>
</header>
<section id="noengine" hidden></section>
<section id="app" hidden>
<form id="search" class="bar" autocomplete="off">
<input id="query" name="query" type="text" placeholder="a small red metal cube left of a blue sphere" aria-label="caption" disabled>
<button id="go" type="submit" disabled>Search</button>
</form>
<div class="bar">
<select id="examples" aria-label="a test caption" disabled><option value="">A test caption…</option></select>
<button id="random" type="button" disabled>Random test caption</button>
<button id="foil" type="button" hidden></button>
</div>
<p id="notice"></p>
<p class="lead key">Words show NAAF's terms against the <strong>selected</strong> scene (click any scene): <span class="word mismatched">red<small>−</small></span> judged mismatched, <span class="word" style="background:rgba(22,163,74,.5)">green<small>+</small></span> matched, <span class="word unknown">dashed yellow</span> not in the vocabulary, <span class="word swapped">dashed outline</span> the foil's swapped word. A green frame marks the caption's own scene.</p>
<p id="words" class="caption"></p>
<div class="columns" id="columns"></div>
</section>
</main>
</body>
</html>
`;
}
