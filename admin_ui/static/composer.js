// The broadcast composer: characters, encoding, segments, recipients and cost as you type.
(function () {
  "use strict";
  var form = document.getElementById("composer");
  if (!form) return;
  var text = form.querySelector("textarea[name=text]");
  var price = parseFloat(form.dataset.price || "0");
  var estimateUrl = form.dataset.estimate;
  var reachable = parseInt(form.dataset.reachable || "0", 10);
  var out = function (id, value) { document.getElementById(id).textContent = value; };
  // Under a template provider: what the member reads around the notice, signature first.
  var wrap = form.dataset.wrap;

  function count(value) {
    if (!wrap) return window.countSegments(value);
    var info = window.countSegments(wrap.replace("{text}", value));
    info.encoding = form.dataset.encoding;
    return info;
  }

  function refresh() {
    // The phone gets LF line ends, as the server stores them.
    var info = count(text.value.replace(/\r\n/g, "\n"));
    out("f-characters", info.characters);
    out("f-encoding", info.encoding);
    out("f-segments", info.segments);
    out("f-per-segment", info.per_segment);
    out("f-cost", (info.segments * reachable * price).toFixed(2));
  }

  var pending = null;
  function estimate() {
    var params = new URLSearchParams();
    form.querySelectorAll("[name=branches]:checked").forEach(function (b) { params.append("branches", b.value); });
    ["cities", "hosts", "industries"].forEach(function (name) {
      var select = form.querySelector("[name=" + name + "]");
      if (!select) return;
      Array.from(select.selectedOptions).forEach(function (o) { params.append(name, o.value); });
    });
    params.set("nonreporters", form.querySelector("[name=nonreporters]").value.trim());
    params.set("scheduled_at", form.querySelector("[name=scheduled_at]").value);
    var urgent = form.querySelector("[name=urgent]");
    if (urgent && urgent.checked) params.set("urgent", "y");
    if (pending) pending.abort();
    pending = new AbortController();
    fetch(estimateUrl + "?" + params.toString(), { signal: pending.signal, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.error) { out("f-target-error", data.error); return; }
        out("f-target-error", "");
        reachable = data.reachable;
        out("f-recipients", data.recipients);
        out("f-reachable", data.reachable);
        out("f-when", data.when);
        refresh();
      })
      .catch(function () { /* a newer request replaced this one */ });
  }

  text.addEventListener("input", refresh);
  var targets = "[name=branches], [name=cities], [name=hosts], [name=industries], " +
    "[name=nonreporters], [name=scheduled_at], [name=urgent]";
  form.querySelectorAll(targets).forEach(function (el) {
    el.addEventListener("change", estimate);
  });
  refresh();
})();
