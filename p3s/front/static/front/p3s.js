// p3s pages: embed bokeh documents (products, strip charts) with the server's own BokehJS.
(function () {
  "use strict";
  function embed(el, item) {
    el.innerHTML = "";
    try {
      window.Bokeh.embed.embed_item(item, el.id);
      el.dataset.embedded = "yes";
    } catch (err) {
      el.textContent = "could not draw this plot: " + err;
    }
  }
  function load(el) {
    if (el.dataset.loading) return;
    el.dataset.loading = "yes";
    fetch(el.dataset.bokehSrc, {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (item) { embed(el, item); })
      .catch(function (err) { el.textContent = "could not load this plot: " + err.message; });
  }
  function start() {
    document.querySelectorAll("script[type='application/json'][data-bokeh-target]").forEach(function (s) {
      embed(document.getElementById(s.dataset.bokehTarget), JSON.parse(s.textContent));
    });
    var lazy = document.querySelectorAll("[data-bokeh-src]");
    if (!("IntersectionObserver" in window)) { lazy.forEach(load); return; }
    var io = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) { io.unobserve(e.target); load(e.target); } });
    }, {rootMargin: "200px"});
    lazy.forEach(function (el) { io.observe(el); });
  }
  // Sandboxed product frames report their height; trust a number from our own frames only.
  window.addEventListener("message", function (e) {
    var h = e.data && e.data.p3sFrameHeight;
    if (typeof h !== "number" || !isFinite(h)) return;
    document.querySelectorAll("iframe.bk-frame").forEach(function (f) {
      if (f.contentWindow === e.source) f.style.height = Math.max(120, Math.min(h, 2400)) + "px";
    });
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
