/* The idol page's "Find her in other photos": tick the faces that are her and label them all
 * with the grid's label action (one batch, undone like any other). Needs labeling.js and the
 * JavaScript catalog. */
(function () {
  "use strict";

  var section = document.getElementById("similar");
  var button = section && section.querySelector("[data-similar-label]");
  if (!button) return;
  var all = section.querySelector("[data-similar-all]");
  var boxes = function () { return Array.prototype.slice.call(section.querySelectorAll('input[name="face"]')); };

  var count = section.querySelector("[data-similar-count]");
  function showCount() {
    if (count) count.textContent = String(boxes().filter(function (b) { return b.checked; }).length);
  }
  section.addEventListener("change", showCount);
  if (all) all.addEventListener("change", function () { boxes().forEach(function (b) { b.checked = all.checked; }); showCount(); });

  button.addEventListener("click", function () {
    var ids = boxes().filter(function (b) { return b.checked; }).map(function (b) { return Number(b.value); });
    if (!ids.length) { window.idolsite.say(gettext("Select the faces that are her first."), true); return; }
    button.disabled = true;
    window.idolsite.post(document.body.dataset.labelUrl, { face_ids: ids, idol: Number(section.dataset.idol) })
      .then(function () {
        ids.forEach(function (id) {
          var item = section.querySelector('.similar-face[data-face="' + id + '"]');
          if (item) item.remove();
        });
        showCount();
        window.idolsite.say(interpolate(ngettext("Labeled %s face as her.", "Labeled %s faces as her.", ids.length), [ids.length]));
      })
      .catch(function (err) { window.idolsite.say(err.message, true); })
      .then(function () { button.disabled = false; });
  });
})();
