// The strip chart page: draw the chart, auto refresh it (re-fetch its data, redraw in place),
// and submit the form when a run is picked. No inline script: the page's CSP allows 'self'.
(function () {
  "use strict";
  var el = document.getElementById("chart");
  if (!el || !window.Bokeh) return;
  var timer = null;
  var busy = false;
  var status = document.getElementById("refresh-state");

  function draw(item) {
    if (el._p3sViews) {
      // Free the previous document's views (a refresh every 30 s for a shift adds up).
      el._p3sViews.then(function (manager) {
        (manager ? manager.roots : []).forEach(function (view) {
          var doc = view.model && view.model.document;
          view.remove();
          var i = window.Bokeh.documents.indexOf(doc);
          if (i >= 0) window.Bokeh.documents.splice(i, 1);
        });
      }).catch(function () {});
    }
    el.innerHTML = "";
    if (!item) {
      var p = document.createElement("p");
      p.className = "muted";
      p.id = "chart-empty";
      p.textContent = "No values in this window (yet).";
      el.appendChild(p);
      return;
    }
    try {
      el._p3sViews = Promise.resolve(window.Bokeh.embed.embed_item(item, el.id));
      el.dataset.embedded = "yes";
    } catch (err) {
      el.textContent = "could not draw this chart: " + err;
    }
  }

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(el.dataset.src, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.detail || ("HTTP " + r.status));
          return body;
        });
      })
      .then(function (body) {
        draw(body.item);
        document.getElementById("chart-meta").innerHTML = body.info;
        el.dataset.refreshes = String(Number(el.dataset.refreshes || 0) + 1);
        el.dataset.npoints = String(body.npoints);
        if (status) status.textContent = "refreshed at " + new Date().toISOString().slice(11, 19) + " UTC";
      })
      .catch(function (err) {
        if (status) status.textContent = "refresh failed: " + err.message + " (will retry)";
      })
      .then(function () { busy = false; });
  }

  function schedule(seconds) {
    if (timer) { clearInterval(timer); timer = null; }
    el.dataset.refresh = String(seconds);
    if (seconds > 0) timer = setInterval(refresh, seconds * 1000);
    if (status) status.textContent = seconds > 0 ? "auto refresh every " + seconds + " s" : "";
  }

  function remember(seconds) {
    // The choice stays in the address (a bookmark keeps it) and in the data URL's query.
    var url = new URL(window.location.href);
    var src = new URL(el.dataset.src, window.location.href);
    [url, src].forEach(function (u) {
      if (seconds > 0) u.searchParams.set("refresh", String(seconds)); else u.searchParams.delete("refresh");
    });
    window.history.replaceState(null, "", url.pathname + url.search);
    el.dataset.src = src.pathname + src.search;
    document.querySelectorAll("#range-chips a[href]").forEach(function (a) {
      var u = new URL(a.href);
      if (seconds > 0) u.searchParams.set("refresh", String(seconds)); else u.searchParams.delete("refresh");
      a.href = u.pathname + u.search;
    });
  }

  var data = document.getElementById("chart-data");
  if (data) draw(JSON.parse(data.textContent));
  var pick = document.getElementById("refresh");
  if (pick) {
    pick.addEventListener("change", function () {
      var s = Number(pick.value) || 0;
      remember(s);
      schedule(s);
    });
  }
  var run = document.getElementById("run-pick");
  if (run) {
    run.addEventListener("change", function () { run.form.submit(); });
    // Typing a from/to leaves the run: from/to only count when no run is picked.
    ["since", "until"].forEach(function (name) {
      var input = run.form.elements[name];
      if (input) input.addEventListener("change", function () { run.value = ""; });
    });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && Number(el.dataset.refresh) > 0) refresh();
  });
  schedule(Number(el.dataset.refresh) || 0);
})();
