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
  // BokehJS for the sandboxed product frames, fetched once per page (the frames' opaque origin
  // cannot share the browser's cache, so each used to download all of it by itself).
  var bokehSources = null;
  function bokehJS() {
    if (!bokehSources) {
      var list = document.getElementById("bokeh-js-urls");
      var urls = list ? JSON.parse(list.textContent) : [];
      bokehSources = Promise.all(urls.map(function (url) {
        return fetch(url, {credentials: "same-origin"}).then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status + " for " + url);
          return r.text();
        });
      }));
      bokehSources.catch(function () { bokehSources = null; });  // a frame's next ask retries
    }
    return bokehSources;
  }
  function ourFrame(source) {
    var found = null;
    document.querySelectorAll("iframe.bk-frame").forEach(function (f) {
      if (f.contentWindow === source) found = f;
    });
    return found;
  }
  // Sandboxed product frames ask for BokehJS and report their height; answer our frames only.
  window.addEventListener("message", function (e) {
    var frame = e.data && ourFrame(e.source);
    if (!frame) return;
    if (e.data.p3sBokehWanted === true && !frame.dataset.bokehSent) {
      bokehJS().then(function (texts) {
        if (frame.dataset.bokehSent) return;
        frame.dataset.bokehSent = "yes";
        // The frame's origin is opaque ("null"): "*" is the only target that reaches it.
        e.source.postMessage({p3sBokehJS: texts}, "*");
      }).catch(function () {});
      return;
    }
    var h = e.data.p3sFrameHeight;
    if (typeof h !== "number" || !isFinite(h)) return;
    frame.style.height = Math.max(120, Math.min(h, 2400)) + "px";
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
