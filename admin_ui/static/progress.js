// The broadcast progress bar: poll the counts until nothing is queued or sending.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) return;
  var bar = box.querySelector(".bar");
  var rest = bar.querySelector("rect.rest");
  var keys = ["recipients", "queued", "sending", "sent", "delivered", "failed", "skipped",
    "reached_text", "reached_call", "not_reached"];
  function show(data) {
    // Attributes, not a style: the page's Content-Security-Policy allows no inline style.
    var percent = Math.max(0, Math.min(100, data.percent));
    rest.setAttribute("x", percent + "%");
    rest.setAttribute("width", 100 - percent + "%");
    bar.setAttribute("aria-valuenow", Math.round(percent));
    box.querySelector("[data-key=percent]").textContent = data.percent + "%";
    keys.forEach(function (k) {
      var el = box.querySelector("[data-key=" + k + "]");
      if (el) el.textContent = data[k];
    });
    box.dataset.done = data.done ? "1" : "0";
  }
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        show(data);
        // Delivery reports keep arriving after the last send; keep watching a little longer.
        if (!data.done || data.sent > 0) setTimeout(poll, data.done ? 5000 : 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  if (box.dataset.done !== "1" || box.dataset.sent !== "0") setTimeout(poll, 1000);
})();
