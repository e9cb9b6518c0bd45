// Page view measurements shared by pages.test.mjs and pages.bench.mjs: scrolls the page
// column inside the window at a steady speed (by the clock, so slow frames mean bigger jumps,
// as with a flicked wheel) and counts, every animation frame, pages on screen that are not
// drawn yet (data-rendered="false").

/** Scrolls from the top at `screensPerSecond` view heights per second for `seconds`; returns
 * { frames, blankFrames, maxBlankMs, pagesSeen, lastPage, ms }. */
export async function measureScroll(session, { screensPerSecond = 4, seconds = 10 } = {}) {
  return session.executeAsyncScript(`
    const [speed, seconds, done] = arguments;
    const col = document.querySelector('[data-testid=page-scroll]');
    col.scrollTop = 0;
    let n = 0, blank = 0, blankSince = 0, maxBlank = 0, last = 0;
    const seen = new Set();
    const t0 = performance.now();
    function frame() {
      const now = performance.now();
      const view = col.getBoundingClientRect();
      let undrawn = false;
      for (const p of col.querySelectorAll('.page')) {
        const r = p.getBoundingClientRect();
        if (r.bottom <= view.top || r.top >= view.bottom) continue;
        seen.add(p.dataset.page);
        last = Math.max(last, Number(p.dataset.page));
        if (p.dataset.rendered !== 'true') undrawn = true;
      }
      n++;
      if (undrawn) { blank++; blankSince ||= now; maxBlank = Math.max(maxBlank, now - blankSince); } else blankSince = 0;
      if (now - t0 >= seconds * 1000) {
        done({ frames: n, blankFrames: blank, maxBlankMs: Math.round(maxBlank), pagesSeen: seen.size, lastPage: last, ms: Math.round(now - t0) });
        return;
      }
      col.scrollTop = ((now - t0) / 1000) * speed * col.clientHeight;
      requestAnimationFrame(frame);
    }
    requestAnimationFrame(frame);
  `, screensPerSecond, seconds);
}
