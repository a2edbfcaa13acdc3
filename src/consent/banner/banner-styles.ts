/**
 * The banner's CSS, injected once. Accept and reject share one class so they
 * look the same: refusing must be as easy and as visible as accepting.
 * Colours meet WCAG AA contrast; focus is always visible.
 */
export const bannerCss = `
.avw{all:initial;position:fixed;z-index:2147483000;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1f;box-sizing:border-box}
.avw *{box-sizing:border-box;font:inherit;color:inherit}
.avw-bar{left:16px;right:16px;bottom:16px;max-width:760px;margin:0 auto;background:#fff;border:1px solid #c7c7cf;border-radius:10px;box-shadow:0 6px 30px rgba(0,0,0,.18);padding:18px 20px}
.avw h2{font-size:17px;font-weight:650;margin:0 0 6px}
.avw p{margin:0 0 12px}
.avw a{color:#1d4ed8;text-decoration:underline}
.avw-row{display:flex;flex-wrap:wrap;gap:8px}
.avw button{cursor:pointer;border-radius:6px;padding:9px 16px;font-weight:600;border:2px solid #1d3a8a;background:#fff;color:#1d3a8a}
.avw button.avw-main{background:#1d3a8a;color:#fff}
.avw button:focus-visible,.avw input:focus-visible,.avw summary:focus-visible,.avw a:focus-visible,.avw-dlg:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.avw-back{inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;padding:16px}
.avw-dlg{background:#fff;border-radius:10px;max-width:560px;width:100%;max-height:90vh;overflow:auto;padding:20px}
.avw-cat{border-top:1px solid #e2e2e8;padding:10px 0}
.avw-cat label{display:flex;gap:10px;align-items:center;font-weight:600}
.avw-cat input{width:18px;height:18px;accent-color:#1d3a8a}
.avw-cat p{margin:4px 0 0 28px;font-size:14px;color:#3f3f46}
.avw-cat details{margin:4px 0 0 28px;font-size:13px}
.avw-cat li{margin:2px 0}
.avw-note{font-size:14px;background:#eef2ff;border-radius:6px;padding:8px}
.avw-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (prefers-color-scheme:dark){.avw-bar,.avw-dlg{background:#1f1f24;color:#f4f4f5;border-color:#3f3f46}.avw button{background:#1f1f24;color:#c7d2fe;border-color:#c7d2fe}.avw button.avw-main{background:#c7d2fe;color:#111}.avw a{color:#a5b4fc}.avw-cat p{color:#d4d4d8}.avw-note{background:#312e81}}
`;
