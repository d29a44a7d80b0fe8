// The privacy release page's signature pad: optional (typing the name signs as well), no framework. The drawing
// goes with the form as a PNG data URL in the hidden field "drawn"; the error summary takes the focus.
(function () {
  "use strict";
  var errors = document.getElementById("errors");
  if (errors) { errors.focus(); }
  var box = document.getElementById("draw"), pad = document.getElementById("pad");
  var field = document.getElementById("drawn"), form = document.getElementById("release-form");
  if (!box || !pad || !pad.getContext) { return; }
  box.hidden = false;
  var context = pad.getContext("2d"), drawing = false, drawn = false;
  function size() {
    var ratio = window.devicePixelRatio || 1, rect = pad.getBoundingClientRect();
    pad.width = Math.round(rect.width * ratio);
    pad.height = Math.round(rect.height * ratio);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.lineWidth = 2.5; context.lineCap = "round"; context.lineJoin = "round"; context.strokeStyle = "#1b1b1b";
    drawn = false;
  }
  function point(event) {
    var rect = pad.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  }
  pad.addEventListener("pointerdown", function (event) {
    drawing = true; pad.setPointerCapture(event.pointerId);
    var at = point(event); context.beginPath(); context.moveTo(at.x, at.y);
    event.preventDefault();
  });
  pad.addEventListener("pointermove", function (event) {
    if (!drawing) { return; }
    var at = point(event); context.lineTo(at.x, at.y); context.stroke(); drawn = true;
  });
  function stop() { drawing = false; }
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);
  document.getElementById("clear").addEventListener("click", function () {
    context.clearRect(0, 0, pad.width, pad.height); drawn = false; field.value = "";
  });
  form.addEventListener("submit", function () { field.value = drawn ? pad.toDataURL("image/png") : ""; });
  size();
})();
