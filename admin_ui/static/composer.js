// The broadcast composer: characters, encoding, segments, recipients and cost as you type.
(function () {
  "use strict";
  var form = document.getElementById("composer");
  if (!form) return;
  var text = form.querySelector("textarea[name=text]");
  var price = parseFloat(form.dataset.price || "0");
  var estimateUrl = form.dataset.estimate;
  var reachable = parseInt(form.dataset.reachable || "0", 10);
  var recipients = parseInt(form.dataset.recipients || "0", 10);
  // The township's approval thresholds, when they apply to this user's notices ("" : none).
  var approvalMembers = form.dataset.approvalMembers;
  var approvalCost = form.dataset.approvalCost;
  var out = function (id, value) { document.getElementById(id).textContent = value; };
  // Under a template provider: what the member reads around the notice, signature first.
  var wrap = form.dataset.wrap;

  // Under a template provider: the notice forms with fields, one shown at a time.
  var notice = form.querySelector("select[name=notice]");
  var freeText = document.getElementById("free-text");

  function chosenForm() {
    if (!notice || !notice.value) return null;
    return form.querySelector('fieldset[data-notice="' + notice.value + '"]');
  }

  function showChosen() {
    var chosen = chosenForm();
    form.querySelectorAll("fieldset[data-notice]").forEach(function (set) {
      set.hidden = set !== chosen;
    });
    if (freeText) freeText.hidden = chosen !== null;
  }

  function count(value) {
    var chosen = chosenForm();
    if (chosen) {
      var filled = chosen.dataset.wrap;
      chosen.querySelectorAll("input[data-field]").forEach(function (input) {
        filled = filled.split("{" + input.dataset.field + "}").join(input.value.trim());
      });
      var counted = window.countSegments(filled);
      counted.encoding = form.dataset.encoding || counted.encoding;
      return counted;
    }
    if (!wrap) return window.countSegments(value);
    var info = window.countSegments(wrap.replace("{text}", value));
    info.encoding = form.dataset.encoding;
    return info;
  }

  function refresh() {
    // The phone gets LF line ends, as the server stores them.
    var info = count(text ? text.value.replace(/\r\n/g, "\n") : "");
    out("f-characters", info.characters);
    out("f-encoding", info.encoding);
    out("f-segments", info.segments);
    out("f-per-segment", info.per_segment);
    var cost = info.segments * reachable * price;
    out("f-cost", cost.toFixed(2));
    var approval = document.getElementById("f-approval");
    if (approval) {
      var over = (approvalMembers !== "" && recipients > parseInt(approvalMembers, 10)) ||
        (approvalCost !== "" && cost > parseFloat(approvalCost));
      approval.hidden = !over;
    }
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
        recipients = data.recipients;
        out("f-recipients", data.recipients);
        out("f-reachable", data.reachable);
        out("f-when", data.when);
        refresh();
      })
      .catch(function () { /* a newer request replaced this one */ });
  }

  if (text) text.addEventListener("input", refresh);
  form.querySelectorAll("input[data-field]").forEach(function (input) {
    input.addEventListener("input", refresh);
  });
  if (notice) notice.addEventListener("change", function () { showChosen(); refresh(); });
  showChosen();
  var targets = "[name=branches], [name=cities], [name=hosts], [name=industries], " +
    "[name=nonreporters], [name=scheduled_at], [name=urgent]";
  form.querySelectorAll(targets).forEach(function (el) {
    el.addEventListener("change", estimate);
  });
  refresh();
})();
