// Renders Markdown documents (dagship's pull request comments) in headless Chromium the way a reader sees them:
// the Markdown as simple HTML (marked, GitHub-flavoured), every ```mermaid block parsed and drawn by the pinned
// mermaid package, and a full-page PNG per document. One Chromium serves every document of a call.
//
//   node render.mjs <modules dir> <chromium> <out dir> <name>=<file.md> ...
//
// Prints one JSON object: {"<name>": {"screenshot": path, "diagrams": [{"ok": bool, "error": string|null}]}}.
// Exits 0 when every diagram of every document rendered, 1 when one failed, 2 on a usage or setup error.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, chromium, outDir, ...documents] = process.argv.slice(2);
if (!modules || !chromium || !outDir || documents.length === 0) {
  console.error("usage: node render.mjs <modules dir> <chromium> <out dir> <name>=<file.md> ...");
  process.exit(2);
}
// The packages live in the tools folder (scripts/mermaid-tools.sh), not beside this script.
const require = createRequire(join(modules, "package.json"));
const { chromium: playwright } = require("playwright-core");
const { Marked } = await import(pathToFileURL(require.resolve("marked")).href);
const mermaidScript = require.resolve("mermaid/dist/mermaid.min.js");

const escapeHtml = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/// The document as HTML with an empty slot per Mermaid block, and the blocks' sources in order.
function toHtml(markdown) {
  const diagrams = [];
  const marked = new Marked({
    gfm: true,
    renderer: {
      code({ text, lang }) {
        if (lang === "mermaid") {
          diagrams.push(text);
          return `<div class="mermaid-slot" data-index="${diagrams.length - 1}"></div>`;
        }
        return `<pre><code>${escapeHtml(text)}</code></pre>`;
      },
    },
  });
  const body = marked.parse(markdown);
  // GitHub opens no <details> by default; the screenshot opens them so the picture shows what a reader can expand.
  const page = `<!doctype html><html><head><meta charset="utf-8"><style>
    body { font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: #1f2328;
           max-width: 900px; margin: 16px auto; padding: 0 16px; }
    table { border-collapse: collapse; } th, td { border: 1px solid #d1d9e0; padding: 4px 10px; }
    code { background: #eff1f3; padding: 1px 4px; border-radius: 4px; font-size: 85%; }
    pre { background: #f6f8fa; padding: 12px; overflow: auto; } blockquote { border-left: 4px solid #d1d9e0;
    margin: 0; padding: 0 12px; color: #59636e; } .mermaid-slot { margin: 8px 0; } .failed { color: #cf222e; }
  </style></head><body>${body}</body></html>`;
  return { page, diagrams };
}

const browser = await playwright.launch({
  executablePath: chromium,
  headless: true,
  // As root on these machines: no sandbox, no GPU, nothing reaching the network on its own.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const report = {};
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 960, height: 800 } });
  for (const entry of documents) {
    const split = entry.indexOf("=");
    const name = entry.slice(0, split);
    const { page: html, diagrams } = toHtml(readFileSync(entry.slice(split + 1), "utf8"));
    const page = await context.newPage();
    await page.setContent(html);
    await page.addScriptTag({ path: mermaidScript });
    const results = await page.evaluate(async (sources) => {
      // securityLevel "strict", as GitHub: labels are text, never HTML.
      window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
      const results = [];
      for (const [index, source] of sources.entries()) {
        const slot = document.querySelector(`.mermaid-slot[data-index="${index}"]`);
        try {
          await window.mermaid.parse(source);
          const { svg } = await window.mermaid.render(`diagram${index}`, source);
          if (/Syntax error/i.test(svg)) throw new Error("mermaid drew its syntax-error picture");
          slot.innerHTML = svg;
          results.push({ ok: true, error: null });
        } catch (error) {
          slot.innerHTML = `<pre class="failed">${String(error?.message ?? error).replace(/</g, "&lt;")}</pre>`;
          results.push({ ok: false, error: String(error?.message ?? error) });
        }
      }
      for (const details of document.querySelectorAll("details")) details.open = true;
      return results;
    }, diagrams);
    const screenshot = join(outDir, `${name}.png`);
    await page.screenshot({ path: screenshot, fullPage: true });
    await page.close();
    failed ||= results.some((result) => !result.ok);
    report[name] = { screenshot, diagrams: results };
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(failed ? 1 : 0);
