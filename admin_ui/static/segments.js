// SMS segment counting, the same rules as models/segments.py (tests compare the two):
// GSM-7 when every character is in the GSM 03.38 tables (an extension character costs two
// septets), else UCS-2 (a character outside the BMP costs two units); 160/70 in one segment,
// 153/67 a part once split, and a two-unit character never straddles two parts.
(function (root) {
  "use strict";
  var GSM7_BASIC = new Set(Array.from(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
  ));
  var GSM7_EXTENSION = new Set(Array.from("\f^{}\\[~]|€"));
  var SINGLE = { "GSM-7": 160, "UCS-2": 70 };
  var PART = { "GSM-7": 153, "UCS-2": 67 };

  function gsm7Widths(chars) {
    var widths = [];
    for (var i = 0; i < chars.length; i++) {
      if (GSM7_BASIC.has(chars[i])) widths.push(1);
      else if (GSM7_EXTENSION.has(chars[i])) widths.push(2);
      else return null;
    }
    return widths;
  }

  function countParts(widths, perPart) {
    var parts = 1, used = 0;
    for (var i = 0; i < widths.length; i++) {
      if (used + widths[i] > perPart) { parts += 1; used = 0; }
      used += widths[i];
    }
    return parts;
  }

  function countSegments(text) {
    var chars = Array.from(text);  // code points, as Python's len()
    var encoding = "GSM-7";
    var widths = gsm7Widths(chars);
    if (widths === null) {
      encoding = "UCS-2";
      widths = chars.map(function (c) { return c.codePointAt(0) > 0xFFFF ? 2 : 1; });
    }
    var units = widths.reduce(function (a, b) { return a + b; }, 0);
    if (units <= SINGLE[encoding]) {
      return { encoding: encoding, characters: chars.length, units: units, segments: 1,
               per_segment: SINGLE[encoding] };
    }
    return { encoding: encoding, characters: chars.length, units: units,
             segments: countParts(widths, PART[encoding]), per_segment: PART[encoding] };
  }

  root.countSegments = countSegments;
})(typeof window !== "undefined" ? window : this);
