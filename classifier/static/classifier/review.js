/* idolsite review page: confirm the model's suggestions, one keystroke each.
 * y accepts the focused face, n rejects it (focus moves on to the next open face), a accepts
 * every face of the page not marked otherwise, arrows (or h j k l) move, u undoes the last
 * action, ] shows the next faces, Enter accepts the rest and shows the next faces.
 * x starts pick mode: each face shows its key (data-hint, from the server: the faces least
 * likely right have one-key hints); typing it rejects that face, Backspace undoes, Enter
 * accepts the rest and goes on, Esc leaves. Pick mode stays on across pages (this tab's
 * sessionStorage) until Esc. Names from the server are inserted with textContent; the words
 * come from the JavaScript catalog (gettext, ngettext, interpolate). */
(function () {
  "use strict";

  var grid = document.querySelector("[data-review]");
  if (!grid) return;
  var data = document.body.dataset;
  var canLabel = data.canLabel === "1";
  var mistakes = grid.dataset.mode === "mistakes";
  var cards = Array.prototype.slice.call(grid.querySelectorAll(".card"));
  var focusIndex = -1;
  var undoStack = [];
  var inflight = [];
  var picking = false;
  var typed = "";
  var UNDO_KEY = "idolsite-review-undo";
  var PICK_KEY = "idolsite-review-picking";

  // The accept of the page Enter left is undoable on the next page (u), once.
  try {
    var carried = JSON.parse(sessionStorage.getItem(UNDO_KEY) || "null");
    sessionStorage.removeItem(UNDO_KEY);
    if (carried && carried.batch) undoStack.push({ kind: "accept", batch: carried.batch, cards: [], count: carried.count });
  } catch (err) { /* storage off: no undo across pages */ }

  function track(promise) {
    inflight.push(promise);
    var done = function () { inflight.splice(inflight.indexOf(promise), 1); };
    promise.then(done, done);
    return promise;
  }

  // The request and status helpers of labeling.js (loaded first by the page's base template).
  var post = window.idolsite.post;
  var say = window.idolsite.say;

  function setFocus(i) {
    if (!cards.length) return;
    i = Math.max(0, Math.min(cards.length - 1, i));
    if (focusIndex >= 0) cards[focusIndex].classList.remove("focus");
    focusIndex = i;
    cards[i].classList.add("focus");
    cards[i].scrollIntoView({ block: "nearest" });
  }

  function columns() {
    if (!cards.length) return 1;
    var top = cards[0].offsetTop, n = 0;
    for (var i = 0; i < cards.length && cards[i].offsetTop === top; i++) n++;
    return Math.max(1, n);
  }

  function isOpen(card) { return !card.classList.contains("accepted") && !card.classList.contains("rejected"); }

  function nextOpen() {
    for (var i = focusIndex + 1; i < cards.length; i++) if (isOpen(cards[i])) { setFocus(i); return; }
  }

  function bump(name, by) {
    var el = document.querySelector('[data-stat="' + name + '"]');
    if (el) el.textContent = String(Number(el.textContent) + by);
  }

  function mark(list, cls, on) { list.forEach(function (card) { card.classList.toggle(cls, on); }); }

  function accept(list) {
    if (!canLabel) { say(gettext("Your role cannot label."), true); return Promise.reject(new Error("role")); }
    list = list.filter(isOpen);
    if (!list.length) return Promise.resolve(null);
    var ids = list.map(function (c) { return Number(c.dataset.face); });
    var payload = { face_ids: ids, replace: mistakes };
    if (list.length === 1) payload.idol = Number(list[0].dataset.idol);
    mark(list, "accepted", true);
    return track(post(grid.dataset.acceptUrl, payload)
      .then(function (json) {
        var done = { kind: "accept", batch: json.batch, cards: list, count: list.length };
        undoStack.push(done);
        bump("accepted", list.length);
        say(interpolate(ngettext("Accepted %s suggestion \u00b7 u undoes", "Accepted %s suggestions \u00b7 u undoes", list.length), [list.length]));
        return done;
      })
      .catch(function (err) { mark(list, "accepted", false); say(err.message, true); throw err; }));
  }

  function reject(card) {
    if (!canLabel) { say(gettext("Your role cannot label."), true); return; }
    if (!card || !isOpen(card)) return;
    var idol = Number(card.dataset.idol);
    card.classList.add("rejected");
    track(post(grid.dataset.rejectUrl, { face_ids: [Number(card.dataset.face)], idol: idol })
      .then(function () {
        undoStack.push({ kind: "reject", card: card, idol: idol });
        bump("rejected", 1);
        say(interpolate(gettext("Not %(name)s \u00b7 u undoes"), { name: card.dataset.name }, true));
      })
      .catch(function (err) { card.classList.remove("rejected"); say(err.message, true); }));
  }

  function nextFaces() {
    // Reviewed faces leave the list: after acting on this page, the same address shows the
    // next faces; the "next page" link is for looking further without acting.
    var next = document.getElementById("next-page");
    if (cards.some(function (c) { return !isOpen(c); }) || !next) location.reload(); else location.href = next.href;
  }

  function finish() {
    // Enter: accept every open face, then the next faces (after the page's requests are done).
    Promise.all(inflight.slice()).then(function () { return accept(cards.slice()); }).then(function (done) {
      if (done) {
        try { sessionStorage.setItem(UNDO_KEY, JSON.stringify({ batch: done.batch, count: done.count })); } catch (err) { /* no undo across pages */ }
      }
      nextFaces();
    }, function () { /* said already; the page stays */ });
  }

  function setPicking(on) {
    picking = on;
    typed = "";
    grid.classList.toggle("picking", on);
    try { if (on) sessionStorage.setItem(PICK_KEY, "1"); else sessionStorage.removeItem(PICK_KEY); } catch (err) { /* this page only */ }
    say(on ? gettext("Pick mode: type a face's key to reject it \u00b7 Backspace undoes \u00b7 Enter accepts the rest \u00b7 Esc leaves") : gettext("Pick mode off."));
  }

  function pick(key) {
    typed += key.toLowerCase();
    var card = cards.filter(function (c) { return c.dataset.hint === typed; })[0];
    if (card) {
      typed = "";
      if (isOpen(card)) { reject(card); if (card === cards[focusIndex]) nextOpen(); }
      return;
    }
    if (!cards.some(function (c) { return c.dataset.hint.indexOf(typed) === 0; })) {
      say(interpolate(gettext("No face has the key \u201c%s\u201d."), [typed]), true);
      typed = "";
    }
  }

  function undo() {
    var last = undoStack.pop();
    if (!last) { say(gettext("Nothing to undo on this page (the Activity page lists older actions).")); return; }
    if (last.kind === "accept") {
      post(data.undoUrl, { batch: last.batch })
        .then(function () {
          mark(last.cards, "accepted", false);
          bump("accepted", -last.count);
          say(last.cards.length ? gettext("Undone.") : interpolate(ngettext("Undone: the %s face accepted on the previous page is open again.", "Undone: the %s faces accepted on the previous page are open again.", last.count), [last.count]));
        })
        .catch(function (err) { say(err.message, true); });
    } else {
      post(grid.dataset.unrejectUrl, { face_ids: [Number(last.card.dataset.face)], idol: last.idol })
        .then(function () { last.card.classList.remove("rejected"); bump("rejected", -1); say(gettext("Undone.")); })
        .catch(function (err) { say(err.message, true); });
    }
  }

  grid.addEventListener("click", function (e) {
    var card = e.target.closest(".card");
    if (card && !e.target.closest("a")) setFocus(cards.indexOf(card));
  });

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (window.idolsite.typing(e)) return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (!cards.length) {  // nothing left here: only the undo of the page before
      if (e.key === "u" || e.key === "Backspace") { undo(); e.preventDefault(); }
      return;
    }
    if (e.key === "Enter" && t && (t.tagName === "A" || t.tagName === "BUTTON")) return;
    var handled = true;
    if (picking) {
      if (e.key === "Escape") setPicking(false);
      else if (e.key === "Enter") finish();
      else if (e.key === "Backspace") { typed = ""; undo(); }
      else if (e.key.length === 1 && e.key !== " ") pick(e.key);
      else handled = false;
      if (handled) e.preventDefault();
      return;
    }
    switch (e.key) {
      case "ArrowLeft": case "h": setFocus(focusIndex - 1); break;
      case "ArrowRight": case "l": setFocus(focusIndex + 1); break;
      case "ArrowUp": case "k": setFocus(focusIndex - columns()); break;
      case "ArrowDown": case "j": setFocus(focusIndex + columns()); break;
      case "y": accept([cards[focusIndex]]).catch(function () {}); nextOpen(); break;
      case "n": reject(cards[focusIndex]); nextOpen(); break;
      case "a": accept(cards.slice()).catch(function () {}); break;
      case "u": undo(); break;
      case "]": nextFaces(); break;
      case "Enter": finish(); break;
      case "x": setPicking(true); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });

  setFocus(0);
  // Pick mode left on by the page before (Enter went on from it) stays on.
  var pickingBefore = false;
  try { pickingBefore = sessionStorage.getItem(PICK_KEY) === "1"; } catch (err) { /* off */ }
  if (pickingBefore && cards.length) setPicking(true);
})();
