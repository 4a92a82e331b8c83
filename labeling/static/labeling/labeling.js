/* idolsite labeling pages, on every page: the helpers (JSON POST, status line), the idol
 * typeahead and the form pickers it fills. The face grid's keys and actions are in grid.js.
 * Plain JavaScript; its words come from Django's JavaScript catalog (gettext, ngettext,
 * interpolate), loaded before it. Every name from the server is inserted with textContent,
 * never as HTML. Actions POST JSON with the CSRF token and get the faces' new labels back. */
(function () {
  "use strict";

  var data = document.body.dataset;
  var canCreate = data.canCreate === "1";

  // --- helpers -----------------------------------------------------------------------------

  function post(url, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": data.csrf, Accept: "application/json" },
      body: JSON.stringify(payload),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) {
          // The API's error shape: "detail" for people, "error" the stable code.
          var err = new Error(json.detail || interpolate(gettext("the server answered %s"), [response.status]));
          err.code = json.error;
          err.fields = json.fields || {};
          throw err;
        }
        return json;
      });
    });
  }

  var statusTimer = null;
  function say(message, isError) {
    var el = document.getElementById("status");
    if (!el) return;
    el.textContent = message;
    el.className = "status show" + (isError ? " error" : "");
    clearTimeout(statusTimer);
    statusTimer = setTimeout(function () { el.className = "status"; }, isError ? 6000 : 3000);
  }

  function idolUrl(id) { return data.idolUrl.replace(/\/0\/$/, "/" + id + "/"); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // A key an input method is still composing with (Japanese kana to kanji) belongs to it: its
  // Enter only ends the composition. Chrome and Firefox set isComposing; Safari sends 229.
  function composing(event) {
    return event.isComposing || event.keyCode === 229;
  }

  function typing(event) {
    if (composing(event)) return true;
    var t = event.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }


  // --- the typeahead -----------------------------------------------------------------------

  var ta = {
    root: document.getElementById("typeahead"),
    input: document.getElementById("ta-input"),
    list: document.getElementById("ta-list"),
    deleted: document.getElementById("ta-deleted"),
    target: document.getElementById("ta-target"),
    items: [],
    active: 0,
    onPick: null,
    seq: 0,
    pending: null,
    timer: null,
  };

  function taOpen(targetText, onPick) {
    if (!ta.root) return;
    ta.onPick = onPick;
    ta.target.textContent = targetText || "";
    ta.input.value = "";
    ta.dirty = false;
    ta.pending = null;
    ta.items = [];
    taRender([]);
    ta.root.hidden = false;
    ta.input.focus();
  }

  function taClose() {
    if (!ta.root) return;
    // Give the keys back to the page now: a hidden input keeps the focus until the browser
    // notices, and a "/" typed meanwhile would land in it instead of reopening the picker.
    if (document.activeElement === ta.input) ta.input.blur();
    ta.root.hidden = true;
    ta.onPick = null;
    ta.seq++;
  }

  function taIsOpen() { return ta.root && !ta.root.hidden; }

  // Why an idol left, as the search answers it (Idol.status).
  var STATUS = {
    graduated: gettext("graduated"),
    retired: gettext("retired"),
    merged: gettext("merged"),
    other: gettext("other"),
  };

  function taSearch() {
    var q = ta.input.value.trim();
    var seq = ++ta.seq;
    ta.dirty = false;
    if (!q) { ta.pending = null; taRender([]); return; }
    var url = data.searchUrl + "?q=" + encodeURIComponent(q) + (ta.deleted.checked ? "&deleted=1" : "");
    ta.pending = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (json) { if (seq === ta.seq) taRender(json.results || [], json); })
      .catch(function () { if (seq === ta.seq) say(gettext("The search failed; try again."), true); });
  }

  // The server says whether the query is a new name (``create``) or folds to idols' names
  // (``same_name``, shown first): then only an explicit "another person" is offered.
  function taRender(results, answer) {
    var q = ta.input.value.trim();
    ta.items = results.map(function (r) { return { kind: "idol", idol: r }; });
    if (q && canCreate && answer && answer.create) {
      ta.items.push({ kind: "create", name: q });
    } else if (q && canCreate && answer && answer.same_name && answer.same_name.length) {
      ta.items.push({ kind: "create", name: q, sameName: true });
    }
    ta.active = 0;
    ta.list.textContent = "";
    ta.items.forEach(function (item, i) {
      var li = el("li");
      li.setAttribute("role", "option");
      if (item.kind === "create" && item.sameName) {
        li.className = "create same-name";
        li.appendChild(el("span", "name", interpolate(gettext("+ Another person named \u201c%s\u201d"), [item.name])));
        li.appendChild(el("span", "sub", gettext("not one of the idols above: a new idol with the same name")));
      } else if (item.kind === "create") {
        li.className = "create";
        li.appendChild(el("span", "name", interpolate(gettext("+ Create \u201c%(name)s\u201d"), { name: item.name }, true)));
        li.appendChild(el("span", "sub", gettext("a new idol with this name")));
      } else {
        var r = item.idol;
        // Her face, to tell two people of one name apart.
        var face = r.face ? el("img", "face") : el("span", "face none");
        if (r.face) { face.src = r.face; face.alt = ""; face.loading = "lazy"; }
        li.appendChild(face);
        var line = el("div");
        line.appendChild(el("span", "name", r.name));
        if (r.reading) line.appendChild(el("span", "reading", r.reading));
        if (r.status !== "active") line.appendChild(el("span", "st", STATUS[r.status] || r.status));
        li.appendChild(line);
        var sub = [];
        if (r.groups.length) sub.push(r.groups.join(", "));
        if (r.matched) sub.push("\u2248 " + r.matched);
        li.appendChild(el("span", "sub", sub.join(" \u00b7 ")));
        li.appendChild(el("span", "n", interpolate(ngettext("%s face", "%s faces", r.faces), [r.faces])));
      }
      li.addEventListener("mousedown", function (e) { e.preventDefault(); ta.active = i; taChoose(); });
      ta.list.appendChild(li);
    });
    if (q && !ta.items.length) ta.list.appendChild(el("li", "none", gettext("No idol matches.")));
    taHighlight();
  }

  function taHighlight() {
    Array.prototype.forEach.call(ta.list.children, function (li, i) {
      li.classList.toggle("active", i === ta.active);
      li.setAttribute("aria-selected", i === ta.active ? "true" : "false");
      if (i === ta.active) li.scrollIntoView({ block: "nearest" });
    });
  }

  function taChoose() {
    var item = ta.items[ta.active];
    var onPick = ta.onPick;
    if (!item || !onPick) return;
    taClose();
    if (item.kind === "create") {
      var confirmText = interpolate(
        gettext("\u201c%s\u201d is already the name of an idol. Create another person with the same name?"), [item.name]);
      if (item.sameName && !window.confirm(confirmText)) return;
      post(data.createUrl, { name: item.name, same_name_ok: !!item.sameName }).then(function (json) {
        say(interpolate(gettext("Created %(name)s."), { name: json.idol.name }, true));
        onPick(json.idol);
      }).catch(function (err) { say(err.message, true); });
    } else {
      onPick(item.idol);
    }
  }

  if (ta.root) {
    ta.input.addEventListener("input", function () {
      ta.dirty = true;
      clearTimeout(ta.timer);
      ta.timer = setTimeout(taSearch, 60);
    });
    ta.deleted.addEventListener("change", function () { taSearch(); ta.input.focus(); });
    ta.input.addEventListener("keydown", function (e) {
      if (composing(e)) { e.stopPropagation(); return; }
      if (e.key === "ArrowDown" || (e.key === "n" && e.ctrlKey)) {
        e.preventDefault(); ta.active = Math.min(ta.active + 1, ta.items.length - 1); taHighlight();
      } else if (e.key === "ArrowUp" || (e.key === "p" && e.ctrlKey)) {
        e.preventDefault(); ta.active = Math.max(ta.active - 1, 0); taHighlight();
      } else if (e.key === "Enter") {
        e.preventDefault();
        // Typed fast and pressed Enter before the answer came: wait for it.
        clearTimeout(ta.timer);
        if (ta.dirty) taSearch();
        Promise.resolve(ta.pending).then(taChoose);
      } else if (e.key === "Escape") {
        e.preventDefault(); taClose();
      }
      e.stopPropagation();
    });
    ta.root.addEventListener("mousedown", function (e) { if (e.target === ta.root) taClose(); });
  }

  // Pickers in forms (grid's idol filter, merge target): the typeahead fills a hidden input.
  document.querySelectorAll("[data-pick]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = button.parentNode.querySelector("[data-picked]");
      taOpen(gettext("Choose an idol"), function (idol) {
        input.value = idol.id;
        button.textContent = idol.name;
        if (button.dataset.submit) button.form.submit();
      });
    });
  });
  document.querySelectorAll("[data-clear-pick]").forEach(function (button) {
    button.addEventListener("click", function () {
      button.parentNode.querySelector("[data-picked]").value = "";
      button.form.submit();
    });
  });
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (e) {
      var picked = button.form.querySelector("[data-picked]");
      if (picked && !picked.value) { e.preventDefault(); say(gettext("Choose the idol first."), true); return; }
      if (!window.confirm(button.dataset.confirm)) e.preventDefault();
    });
  });

  // What the pages' own scripts (grid.js, the review page's) use: they load after this one.
  window.idolsite = {
    post: post,
    say: say,
    typing: typing,
    composing: composing,
    el: el,
    idolUrl: idolUrl,
    openTypeahead: taOpen,
    typeaheadOpen: taIsOpen,
  };
})();
