/* The recognizer's suggestions on the face grid (grid and photo pages): each unlabeled face
 * shows its top idols with their probability; a click on a name labels the face with her,
 * y accepts the first suggestion of the focused face (or of every selected face), Shift+1-3
 * the first, second or third (the digits alone are the labeler's recent idols, grid.js), n
 * says "not her" and the next idol shows. Undo (u) takes back either. One request fetches the suggestions of every face on the page.
 * Needs labeling.js and grid.js (window.idolsite.grid), loaded before it. The URLs come from
 * the #suggestions element, the words from the JavaScript catalog; names go in with textContent. */
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
    box.setAttribute("aria-label", gettext("Suggested names"));
    if (s.unknown) {
      var unknown = el("span", "unknown", gettext("unknown"));
      unknown.title = gettext("The recognizer places this face nowhere well: it names no one.");
      box.appendChild(unknown);
    } else {
      s.top.forEach(function (guess, i) {
        var node = el(canLabel ? "button" : "span", "guess" + (i === 0 ? " first" : "") + (guess.idol_status !== "active" ? " gone" : ""));
        if (canLabel) {
          node.type = "button";
          node.title = interpolate(gettext("Label the face %(name)s"), { name: guess.name }, true) + " (" + (i === 0 ? "y, " : "") + "Shift+" + (i + 1) + ")";
        }
        node.dataset.idol = guess.idol;
        node.dataset.rank = i;
        node.appendChild(el("span", "name", guess.name));
        if (guess.idol_status === "graduated" || guess.idol_status === "retired") {
          node.appendChild(el("span", "left", guess.idol_status === "graduated" ? gettext("graduated") : gettext("retired")));
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
        if (!response.ok) throw new Error(interpolate(gettext("the server answered %s"), [response.status]));
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
    if (!canLabel) { say(gettext("Your role cannot label."), true); return; }
    ids = ids || grid.targets();
    var choices = [], names = [], used = [];
    ids.forEach(function (id) {
      var s = byFace[id], card = cardOf(id);
      var guess = s && !s.unknown && card && open(card) ? s.top[rank] : null;
      if (guess) { choices.push({ face: id, idol: guess.idol }); names.push(guess.name); }
      // An active idol joins the keys 1-9, as the server counts it (graduated ones drop out).
      if (guess && guess.idol_status === "active" && !used.some(function (u) { return u.id === guess.idol; })) {
        used.push({ id: guess.idol, name: guess.name });
      }
    });
    if (!choices.length) { say(gettext("No suggestion here to act on."), true); return; }
    var accepted = choices.map(function (c) { return c.face; });
    var message = choices.length === 1
      ? interpolate(gettext("Labeled %(name)s (suggested)"), { name: names[0] }, true)
      : interpolate(ngettext("Accepted the first suggestion of %s face", "Accepted the first suggestion of %s faces", choices.length), [choices.length]);
    var skipped = ids.length - choices.length;
    if (skipped > 0) message += " \u00b7 " + interpolate(ngettext("%s without a suggestion left as it was", "%s without a suggestion left as they were", skipped), [skipped]);
    grid.act(conf.acceptUrl, { choices: choices }, accepted, message, used);
  }

  // "Not her" for the first suggestion of each target face: one request an idol.
  function reject() {
    if (!canLabel) { say(gettext("Your role cannot label."), true); return; }
    var byIdol = {}, names = {};
    grid.targets().forEach(function (id) {
      var s = byFace[id], card = cardOf(id);
      var guess = s && !s.unknown && card && open(card) ? s.top[0] : null;
      if (!guess) return;
      (byIdol[guess.idol] = byIdol[guess.idol] || []).push(id);
      names[guess.idol] = guess.name;
    });
    var idols = Object.keys(byIdol);
    if (!idols.length) { say(gettext("No suggestion here to act on."), true); return; }
    idols.forEach(function (idol) {
      var ids = byIdol[idol];
      grid.busy(ids, true);
      post(conf.rejectUrl, { face_ids: ids, idol: Number(idol) })
        .then(function (json) {
          ids.forEach(function (id) { delete byFace[id]; });
          json.suggestions.forEach(function (s) { byFace[s.face] = s; });
          ids.forEach(render);
          grid.pushUndo(function () { unreject(ids, Number(idol)); });
          say(interpolate(gettext("Not %(name)s: the next suggestion shows \u00b7 u undoes"), { name: names[idol] }, true));
        })
        .catch(function (err) { say(err.message, true); })
        .then(function () { grid.busy(ids, false); });
    });
  }

  function unreject(ids, idol) {
    post(conf.unrejectUrl, { face_ids: ids, idol: idol })
      .then(function () { return load(ids); })
      .then(function () { say(gettext("Rejection taken back.")); })
      .catch(function (err) { say(err.message, true); });
  }

  grid.onKey("y", function () { accept(0); });
  grid.onKey("Shift+Digit1", function () { accept(0); });
  grid.onKey("Shift+Digit2", function () { accept(1); });
  grid.onKey("Shift+Digit3", function () { accept(2); });
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
