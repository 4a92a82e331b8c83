/* The face grid (grid, idol and photo pages): focus and selection by keyboard and mouse,
 * label, unlabel, exclude, include and undo; the keys 1-9 with the labeler's recent idols and
 * their legend; the grid's counts (unlabeled left, this page's progress); and drawing a new
 * face's box on the photo page. Needs labeling.js (window.idolsite), loaded before it. */
(function () {
  "use strict";

  var data = document.body.dataset;
  var canLabel = data.canLabel === "1";
  var post = window.idolsite.post;
  var say = window.idolsite.say;
  var typing = window.idolsite.typing;
  var el = window.idolsite.el;
  var idolUrl = window.idolsite.idolUrl;
  var taOpen = window.idolsite.openTypeahead;
  var taIsOpen = window.idolsite.typeaheadOpen;

  // --- the grid ----------------------------------------------------------------------------

  var grid = document.querySelector("[data-grid]");
  var cards = grid ? Array.prototype.slice.call(grid.querySelectorAll(".card")) : [];
  var focusIndex = -1;
  var anchor = null;
  var selected = new Set();
  var undoStack = [];  // label batches, or functions that undo something else (a rejection)
  var extraKeys = {};  // key -> function, from the page's other scripts (suggestions.js)
  var updated = [];  // functions told of the faces' new states
  var lastIdol = null;
  var contextIdol = grid && grid.dataset.contextIdol ? { id: Number(grid.dataset.contextIdol), name: grid.dataset.contextIdolName } : null;
  var countEl = document.getElementById("selection-count");
  var numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);

  // --- the keys 1-9: the idols this user labeled with last ------------------------------------

  // [{id, name, face}], newest first: the server's list when the page loaded, then the label
  // action's answer (or, for an accepted suggestion, the idol moved to the front here).
  var recentEl = document.getElementById("recent-idols");
  var recent = recentEl ? JSON.parse(recentEl.textContent) : [];
  var keysList = document.getElementById("idol-keys-list");
  var keysNone = document.getElementById("idol-keys-none");
  var MAX_KEYS = 9;

  function renderKeys(used) {
    if (!keysList) return;
    keysList.textContent = "";
    recent.slice(0, MAX_KEYS).forEach(function (idol, i) {
      var li = el("li", used && used.indexOf(idol.id) >= 0 ? "used" : null);
      li.dataset.idol = idol.id;
      li.title = interpolate(gettext("Label with %(name)s (%(key)s)"), { name: idol.name, key: i + 1 }, true);
      li.appendChild(el("kbd", null, String(i + 1)));
      if (idol.face) {
        var img = el("img");
        img.src = idol.face; img.alt = ""; img.width = 22; img.height = 22;
        li.appendChild(img);
      }
      li.appendChild(el("span", "name", idol.name));
      keysList.appendChild(li);
    });
    if (keysNone) keysNone.hidden = recent.length > 0;
  }

  function setRecent(list, used) {
    recent = list.slice(0, MAX_KEYS);
    renderKeys(used);
  }

  // Idols just used without the server's list (an accepted suggestion): to the front.
  function promote(idols) {
    var ids = idols.map(function (idol) { return idol.id; });
    var known = {};
    recent.forEach(function (idol) { known[idol.id] = idol; });
    var front = idols.map(function (idol) { return known[idol.id] || { id: idol.id, name: idol.name, face: "" }; });
    var seen = {};
    setRecent(front.concat(recent).filter(function (idol) {
      if (seen[idol.id]) return false;
      seen[idol.id] = true;
      return true;
    }), ids);
  }

  function labelWithKey(n) {
    if (!canLabel) { say(gettext("Your role cannot label."), true); return; }
    var idol = recent[n - 1];
    if (!idol) {
      say(interpolate(gettext("No idol on key %s yet: label with / first, the keys then hold the idols you used last."), [n]), true);
      return;
    }
    applyLabel(idol);
  }

  // --- the counts: unlabeled faces left, this page's progress ---------------------------------

  var leftEl = document.getElementById("unlabeled-left");
  var pageEl = document.getElementById("page-progress");

  function toLabel(card) {
    return !card.classList.contains("labeled") && !card.classList.contains("excluded");
  }

  function showCounts(closed) {
    if (leftEl && leftEl.dataset.more !== "1" && closed) {
      var left = Math.max(0, Number(leftEl.dataset.count) - closed);
      leftEl.dataset.count = left;
      leftEl.textContent = leftEl.dataset.filtered === "1"
        ? interpolate(ngettext("%s unlabeled face left with these filters", "%s unlabeled faces left with these filters", left), [numbers.format(left)])
        : interpolate(ngettext("%s unlabeled face left", "%s unlabeled faces left", left), [numbers.format(left)]);
    }
    if (pageEl) {
      var done = cards.filter(function (card) { return card.classList.contains("labeled"); }).length;
      pageEl.textContent = interpolate(ngettext("%(done)s of %(total)s on this page labeled", "%(done)s of %(total)s on this page labeled", cards.length), { done: done, total: cards.length }, true);
    }
  }

  function indexOfFace(id) {
    for (var i = 0; i < cards.length; i++) if (cards[i].dataset.face === String(id)) return i;
    return -1;
  }

  function setFocus(i, scroll) {
    if (!cards.length) return;
    i = Math.max(0, Math.min(cards.length - 1, i));
    if (focusIndex >= 0 && cards[focusIndex]) cards[focusIndex].classList.remove("focus");
    focusIndex = i;
    cards[i].classList.add("focus");
    if (scroll !== false) cards[i].scrollIntoView({ block: "nearest" });
    var box = document.querySelector(".box.focus");
    if (box) box.classList.remove("focus");
    box = document.querySelector('[data-box-face="' + cards[i].dataset.face + '"]');
    if (box) box.classList.add("focus");
  }

  function columns() {
    if (!cards.length) return 1;
    var top = cards[0].offsetTop, n = 0;
    for (var i = 0; i < cards.length && cards[i].offsetTop === top; i++) n++;
    return Math.max(1, n);
  }

  function showSelection() {
    cards.forEach(function (card) {
      var on = selected.has(card.dataset.face);
      card.classList.toggle("selected", on);
      card.setAttribute("aria-selected", on ? "true" : "false");
    });
    if (countEl) {
      countEl.textContent = selected.size
        ? interpolate(ngettext("%s selected: actions apply to it (Esc clears)", "%s selected: actions apply to all of them (Esc clears)", selected.size), [selected.size])
        : gettext("No selection: keys act on the focused face");
      countEl.classList.toggle("some", selected.size > 0);
    }
  }

  function toggle(i) {
    var id = cards[i].dataset.face;
    if (selected.has(id)) selected.delete(id); else selected.add(id);
    anchor = i;
    showSelection();
  }

  function selectRange(from, to) {
    var a = Math.min(from, to), b = Math.max(from, to);
    for (var i = a; i <= b; i++) selected.add(cards[i].dataset.face);
    showSelection();
  }

  function targets() {
    if (selected.size) return cards.filter(function (c) { return selected.has(c.dataset.face); }).map(function (c) { return Number(c.dataset.face); });
    if (focusIndex >= 0 && cards[focusIndex]) return [Number(cards[focusIndex].dataset.face)];
    return [];
  }

  function chipNode(faceId, chip) {
    var span = el("span", "chip" + (chip.deleted ? " gone" : ""));
    span.dataset.idol = chip.idol;
    var link = el("a", null, chip.name);
    link.href = idolUrl(chip.idol);
    span.appendChild(link);
    if (canLabel) {
      var x = el("button", "x", "\u00d7");
      x.type = "button";
      x.title = gettext("Remove this label");
      x.setAttribute("aria-label", interpolate(gettext("Remove %(name)s"), { name: chip.name }, true));
      span.appendChild(x);
    }
    return span;
  }

  function update(states) {
    var closed = 0;  // faces that were to label and no longer are (less: opened again)
    states.forEach(function (state) {
      var i = indexOfFace(state.id);
      if (i < 0) return;
      var card = cards[i];
      var wasOpen = toLabel(card);
      var chips = card.querySelector(".chips");
      chips.textContent = "";
      state.labels.forEach(function (chip) { chips.appendChild(chipNode(state.id, chip)); });
      card.classList.toggle("labeled", !state.excluded && state.labels.length > 0);
      card.classList.toggle("excluded", state.excluded);
      var meta = card.querySelector(".meta");
      var reason = meta.querySelector(".reason");
      if (state.excluded && !reason) meta.appendChild(el("span", "reason", state.exclusion_reason));
      if (!state.excluded && reason) reason.remove();
      var box = document.querySelector('[data-box-face="' + state.id + '"]');
      if (box) {
        box.classList.toggle("labeled", state.labels.length > 0);
        box.querySelector(".box-label").textContent = state.labels.map(function (c) { return c.name; }).join(", ") || "?";
      }
      closed += (wasOpen ? 1 : 0) - (toLabel(card) ? 1 : 0);
    });
    showCounts(closed);
    updated.forEach(function (fn) { fn(states); });
  }

  // used: the idols an accepted suggestion labeled with (their action answers no recent list).
  function done(json, message, ids, used) {
    update(json.faces);
    if (json.recent) setRecent(json.recent, json.batch && json.recent.length ? [json.recent[0].id] : []);
    else if (used && used.length && json.batch) promote(used);
    if (json.batch) {
      undoStack.push(json.batch);
      say(interpolate(gettext("%s \u00b7 u undoes"), [message]));
    } else {
      say(gettext("Nothing changed: the faces had that label already."));  // no batch: nothing to undo
    }
    selected.clear();
    showSelection();
    // Unlabeled faces: go on to the next face still to do.
    if (grid.dataset.status === "unlabeled" && ids.length) {
      var last = indexOfFace(ids[ids.length - 1]);
      for (var i = last + 1; i < cards.length; i++) {
        if (!cards[i].classList.contains("labeled") && !cards[i].classList.contains("excluded")) { setFocus(i); return; }
      }
    }
  }

  function busy(ids, on) {
    ids.forEach(function (id) { var i = indexOfFace(id); if (i >= 0) cards[i].classList.toggle("busy", on); });
  }

  function act(url, payload, ids, message, used) {
    busy(ids, true);
    return post(url, payload)
      .then(function (json) { done(json, message, ids, used); })
      .catch(function (err) { say(err.message, true); })
      .then(function () { busy(ids, false); });
  }

  function applyLabel(idol) {
    var ids = targets();
    if (!ids.length) return;
    lastIdol = idol;
    act(data.labelUrl, { face_ids: ids, idol: idol.id }, ids, interpolate(ngettext("Labeled %(n)s face %(name)s", "Labeled %(n)s faces %(name)s", ids.length), { n: ids.length, name: idol.name }, true));
  }

  function openLabel() {
    if (!canLabel) { say(gettext("Your role cannot label."), true); return; }
    var ids = targets();
    if (!ids.length) return;
    taOpen(interpolate(ngettext("Label %s face", "Label %s faces", ids.length), [ids.length]), applyLabel);
  }

  function exclude(reason) {
    var ids = targets();
    if (!ids.length || !canLabel) return;
    act(data.excludeUrl, { face_ids: ids, reason: reason }, ids, interpolate(ngettext("Excluded %s face", "Excluded %s faces", ids.length), [ids.length]));
  }

  function include() {
    var ids = targets();
    if (!ids.length || !canLabel) return;
    act(data.includeUrl, { face_ids: ids }, ids, interpolate(ngettext("Included %s face again", "Included %s faces again", ids.length), [ids.length]));
  }

  function unlabelContext() {
    var ids = targets();
    if (!ids.length || !canLabel || !contextIdol) return;
    act(data.unlabelUrl, { face_ids: ids, idol: contextIdol.id }, ids, interpolate(ngettext("Removed %(name)s from %(n)s face", "Removed %(name)s from %(n)s faces", ids.length), { name: contextIdol.name, n: ids.length }, true));
  }

  function undo() {
    if (!canLabel) return;
    var batch = undoStack.pop();
    if (!batch) { say(gettext("Nothing to undo on this page (the Activity page lists older actions).")); return; }
    if (typeof batch === "function") { batch(); return; }
    post(data.undoUrl, { batch: batch })
      .then(function (json) { update(json.faces); say(gettext("Undone.")); })
      .catch(function (err) { say(err.message, true); });
  }

  if (grid) {
    grid.addEventListener("click", function (e) {
      var x = e.target.closest(".chip .x");
      var card = e.target.closest(".card");
      if (!card) return;
      var i = cards.indexOf(card);
      if (x) {
        var idol = Number(x.parentNode.dataset.idol);
        var name = x.parentNode.querySelector("a").textContent;
        var id = Number(card.dataset.face);
        act(data.unlabelUrl, { face_ids: [id], idol: idol }, [id], interpolate(gettext("Removed %(name)s"), { name: name }, true));
        return;
      }
      if (e.target.closest("a")) return;
      if (e.shiftKey && anchor !== null) {
        selectRange(anchor, i);
      } else if (e.ctrlKey || e.metaKey) {
        toggle(i);
      } else {
        anchor = i;
      }
      setFocus(i, false);
    });
    grid.addEventListener("mousedown", function (e) { if (e.shiftKey) e.preventDefault(); });
    grid.addEventListener("dblclick", function (e) {
      var card = e.target.closest(".card");
      if (card && !e.target.closest("a, button")) { setFocus(cards.indexOf(card), false); openLabel(); }
    });
    // A click on a name of the legend labels as her key does.
    if (keysList) {
      keysList.addEventListener("click", function (e) {
        var li = e.target.closest("li");
        if (li) labelWithKey(Array.prototype.indexOf.call(keysList.children, li) + 1);
      });
    }
    if (cards.length) {
      var hash = location.hash.match(/^#face-(\d+)$/);
      var linked = hash ? indexOfFace(hash[1]) : -1;
      setFocus(linked >= 0 ? linked : 0, linked >= 0);
    }
    showSelection();
    document.querySelectorAll("[data-do]").forEach(function (button) {
      button.addEventListener("click", function () {
        var what = button.dataset.do;
        if (what === "label") openLabel();
        else if (what === "exclude") exclude("not_face");
        else if (what === "exclude-target") exclude("not_target");
        else if (what === "unlabel") unlabelContext();
        else if (what === "undo") undo();
      });
    });
  }

  document.addEventListener("keydown", function (e) {
    if (taIsOpen() || typing(e) || e.altKey || e.ctrlKey || e.metaKey) return;
    if (!grid || !cards.length) return;
    // Shift with a digit: by the key's place (e.code), since the character it types differs
    // between layouts (Shift+2 is "@" on a US keyboard, '"' on a Japanese one).
    if (e.shiftKey && /^Digit[1-9]$/.test(e.code)) {
      var shifted = extraKeys["Shift+" + e.code];
      if (shifted) { shifted(); e.preventDefault(); }
      return;
    }
    if (!e.shiftKey && /^[1-9]$/.test(e.key)) { labelWithKey(Number(e.key)); e.preventDefault(); return; }
    var cols = columns();
    var handled = true;
    switch (e.key) {
      case "ArrowLeft": case "h": setFocus(focusIndex - 1); break;
      case "ArrowRight": case "l": setFocus(focusIndex + 1); break;
      case "ArrowUp": case "k": setFocus(focusIndex - cols); break;
      case "ArrowDown": case "j": setFocus(focusIndex + cols); break;
      case " ": toggle(focusIndex); break;
      case "a": cards.forEach(function (c) { selected.add(c.dataset.face); }); showSelection(); break;
      case "Escape": selected.clear(); showSelection(); break;
      case "/": case "Enter": openLabel(); break;
      case "r": if (lastIdol && canLabel) applyLabel(lastIdol); else handled = false; break;
      case "x": exclude("not_face"); break;
      case "X": exclude("not_target"); break;
      case "i": include(); break;
      case "u": undo(); break;
      case "Delete": case "Backspace": if (contextIdol) unlabelContext(); else handled = false; break;
      case "o": location.href = cards[focusIndex].dataset.photo + "#face-" + cards[focusIndex].dataset.face; break;
      case "]": var next = document.getElementById("next-page"); if (next) location.href = next.href; else handled = false; break;
      default: if (extraKeys[e.key]) extraKeys[e.key](); else handled = false;
    }
    if (handled) e.preventDefault();
  });

  // What the page's other scripts (suggestions.js) build on: they load after this one.
  window.idolsite.grid = {
    cards: cards,
    focused: function () { return focusIndex >= 0 ? cards[focusIndex] || null : null; },
    targets: targets,
    act: act,
    busy: busy,
    pushUndo: function (entry) { undoStack.push(entry); },
    // key: e.key ("y"), or "Shift+" and e.code for Shift with a digit ("Shift+Digit2")
    onKey: function (key, fn) { extraKeys[key] = fn; },
    onUpdate: function (fn) { updated.push(fn); },
  };

  // --- drawing a box on the photo page -----------------------------------------------------

  var stage = document.querySelector(".stage[data-draw]");
  if (stage) {
    var img = stage.querySelector("img");
    var draft = document.getElementById("draft");
    var form = document.getElementById("box-form");
    var start = null;
    var W = Number(stage.dataset.width), H = Number(stage.dataset.height);

    var point = function (e) {
      var r = img.getBoundingClientRect();
      return { x: Math.max(0, Math.min(r.width, e.clientX - r.left)), y: Math.max(0, Math.min(r.height, e.clientY - r.top)), r: r };
    };
    stage.addEventListener("pointerdown", function (e) {
      if (e.button !== 0 || e.target.closest(".box")) return;
      start = point(e);
      stage.setPointerCapture(e.pointerId);
      draft.hidden = false;
      draw(start, start);
      e.preventDefault();
    });
    stage.addEventListener("pointermove", function (e) { if (start) draw(start, point(e)); });
    stage.addEventListener("pointerup", function (e) {
      if (!start) return;
      var end = point(e);
      var sx = W / start.r.width, sy = H / start.r.height;
      var x = Math.round(Math.min(start.x, end.x) * sx), y = Math.round(Math.min(start.y, end.y) * sy);
      var w = Math.round(Math.abs(end.x - start.x) * sx), h = Math.round(Math.abs(end.y - start.y) * sy);
      start = null;
      if (w < 8 || h < 8) { draft.hidden = true; return; }
      form.elements.x.value = x; form.elements.y.value = Math.max(0, y);
      form.elements.w.value = Math.min(w, W - x); form.elements.h.value = Math.min(h, H - y);
      say(gettext("Box ready: press \u201cAdd this face\u201d to keep it."));
      form.querySelector("button[type=submit]").focus();
    });
    var draw = function (a, b) {
      draft.style.left = Math.min(a.x, b.x) + "px";
      draft.style.top = Math.min(a.y, b.y) + "px";
      draft.style.width = Math.abs(b.x - a.x) + "px";
      draft.style.height = Math.abs(b.y - a.y) + "px";
    };
  }
  document.querySelectorAll("[data-box-face]").forEach(function (box) {
    box.addEventListener("click", function (e) {
      var i = indexOfFace(box.dataset.boxFace);
      if (i >= 0) { e.preventDefault(); setFocus(i); }
    });
  });
})();
