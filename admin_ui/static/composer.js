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

  function refresh() {
    // The phone gets LF line ends, as the server stores them.
    var info = window.countSegments(text.value.replace(/\r\n/g, "\n"));
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
    Array.from(form.querySelector("[name=cities]").selectedOptions).forEach(function (o) { params.append("cities", o.value); });
    params.set("nonreporters", form.querySelector("[name=nonreporters]").value.trim());
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
        refresh();
      })
      .catch(function () { /* a newer request replaced this one */ });
  }

  text.addEventListener("input", refresh);
  form.querySelectorAll("[name=branches], [name=cities], [name=nonreporters]").forEach(function (el) {
    el.addEventListener("change", estimate);
  });
  refresh();
})();
