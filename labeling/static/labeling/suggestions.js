/* The recognizer's suggestions on the face grid (grid and photo pages): each unlabeled face
 * shows its top idols with their probability; a click on a name labels the face with her,
 * y accepts the first suggestion of the focused face (or of every selected face), 1-3 the
 * first, second or third, n says "not her" and the next idol shows. Undo (u) takes back
 * either. One request fetches the suggestions of every face on the page.
 * Needs labeling.js and grid.js (window.idolsite.grid), loaded before it. The URLs and the
 * translated words come from the #suggestions element; names go in with textContent. */
(function () {
  "use strict";

  var root = document.getElementById("suggestions");
  var grid = window.idolsite && window.idolsite.grid;
  if (!root || !grid || !grid.cards.length) return;
  var conf = root.dataset;
  var canLabel = document.body.dataset.canLabel === "1";
  var post = window.idolsite.post;
  var say = window.idolsite.say;
  var el = window.idolsite.el;
  var byFace = {};  // face id -> {unknown, top: [{idol, name, idol_status, probability}]}
  var percent = new Intl.NumberFormat(document.documentElement.lang || undefined, { style: "percent" });

  function t(key, values) {
    var text = conf["t" + key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }

  function cardOf(id) {
    for (var i = 0; i < grid.cards.length; i++) if (grid.cards[i].dataset.face === String(id)) return grid.cards[i];
    return null;
  }

  function open(card) {
    return !card.classList.contains("labeled") && !card.classList.contains("excluded");
  }

  function render(id) {
    var card = cardOf(id);
    if (!card) return;
    var old = card.querySelector(".suggest");
    if (old) old.remove();
    var s = byFace[id];
    if (!s || !open(card) || (!s.unknown && !s.top.length)) return;
    var box = el("div", "suggest");
    box.setAttribute("aria-label", t("Label"));
    if (s.unknown) {
      var unknown = el("span", "unknown", t("Unknown"));
      unknown.title = t("UnknownTitle");
      box.appendChild(unknown);
    } else {
      s.top.forEach(function (guess, i) {
        var node = el(canLabel ? "button" : "span", "guess" + (i === 0 ? " first" : "") + (guess.idol_status !== "active" ? " gone" : ""));
        if (canLabel) {
          node.type = "button";
          node.title = t("Accept", { name: guess.name }) + " (" + (i === 0 ? "y, " : "") + (i + 1) + ")";
        }
        node.dataset.idol = guess.idol;
        node.dataset.rank = i;
        node.appendChild(el("span", "name", guess.name));
        if (guess.idol_status === "graduated" || guess.idol_status === "retired") {
          node.appendChild(el("span", "left", t(guess.idol_status === "graduated" ? "Graduated" : "Retired")));
        }
        node.appendChild(el("span", "p", percent.format(guess.probability)));
        box.appendChild(node);
      });
    }
    card.querySelector(".chips").after(box);
  }

  function load(ids) {
    ids = ids.filter(function (id) { var card = cardOf(id); return card && open(card); });
    if (!ids.length) return Promise.resolve();
    return fetch(conf.url + "?faces=" + ids.join(","), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("the server answered " + response.status);
        return response.json();
      })
      .then(function (json) {
        ids.forEach(function (id) { delete byFace[id]; });
        json.results.forEach(function (s) { byFace[s.face] = s; });
        ids.forEach(render);
        root.dataset.loaded = "1";  // for the browser tests: the answer is on the page
      })
      .catch(function (err) { say(err.message, true); });
  }

  // Label each target face with its suggestion of this rank (0: the first); faces without one
  // are left as they are.
  function accept(rank, ids) {
    if (!canLabel) { say(t("NoRole"), true); return; }
    ids = ids || grid.targets();
    var choices = [], names = [];
    ids.forEach(function (id) {
      var s = byFace[id], card = cardOf(id);
      var guess = s && !s.unknown && card && open(card) ? s.top[rank] : null;
      if (guess) { choices.push({ face: id, idol: guess.idol }); names.push(guess.name); }
    });
    if (!choices.length) { say(t("None"), true); return; }
    var accepted = choices.map(function (c) { return c.face; });
    var message = choices.length === 1 ? t("AcceptedOne", { name: names[0] }) : t("AcceptedMany", { n: choices.length });
    if (ids.length > choices.length) message += " \u00b7 " + t("Skipped", { n: ids.length - choices.length });
    grid.act(conf.acceptUrl, { choices: choices }, accepted, message);
  }

  // "Not her" for the first suggestion of each target face: one request an idol.
  function reject() {
    if (!canLabel) { say(t("NoRole"), true); return; }
    var byIdol = {}, names = {};
    grid.targets().forEach(function (id) {
      var s = byFace[id], card = cardOf(id);
      var guess = s && !s.unknown && card && open(card) ? s.top[0] : null;
      if (!guess) return;
      (byIdol[guess.idol] = byIdol[guess.idol] || []).push(id);
      names[guess.idol] = guess.name;
    });
    var idols = Object.keys(byIdol);
    if (!idols.length) { say(t("None"), true); return; }
    idols.forEach(function (idol) {
      var ids = byIdol[idol];
      grid.busy(ids, true);
      post(conf.rejectUrl, { face_ids: ids, idol: Number(idol) })
        .then(function (json) {
          ids.forEach(function (id) { delete byFace[id]; });
          json.suggestions.forEach(function (s) { byFace[s.face] = s; });
          ids.forEach(render);
          grid.pushUndo(function () { unreject(ids, Number(idol)); });
          say(t("Rejected", { name: names[idol] }) + " \u00b7 " + t("Undo"));
        })
        .catch(function (err) { say(err.message, true); })
        .then(function () { grid.busy(ids, false); });
    });
  }

  function unreject(ids, idol) {
    post(conf.unrejectUrl, { face_ids: ids, idol: idol })
      .then(function () { return load(ids); })
      .then(function () { say(t("Unrejected")); })
      .catch(function (err) { say(err.message, true); });
  }

  grid.onKey("y", function () { accept(0); });
  grid.onKey("1", function () { accept(0); });
  grid.onKey("2", function () { accept(1); });
  grid.onKey("3", function () { accept(2); });
  grid.onKey("n", reject);
  // Labeled, excluded: the suggestions go; unlabeled again (an undo, an include): they come back.
  grid.onUpdate(function (states) {
    var again = [];
    states.forEach(function (state) {
      if (!state.excluded && !state.labels.length) again.push(state.id);
      else render(state.id);
    });
    load(again);
  });

  document.querySelector("[data-grid]").addEventListener("click", function (e) {
    var guess = e.target.closest(".suggest .guess");
    if (!guess || !canLabel || guess.tagName !== "BUTTON") return;
    e.stopPropagation();
    accept(Number(guess.dataset.rank), [Number(guess.closest(".card").dataset.face)]);
  }, true);
  document.querySelectorAll("[data-suggest-do]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (button.dataset.suggestDo === "accept") accept(0); else reject();
    });
  });

  load(grid.cards.map(function (card) { return Number(card.dataset.face); }));
})();
