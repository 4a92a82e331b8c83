/* The photo feed: uploads (drag and drop anywhere on the page, or the file input; each file
 * its own request with its own progress bar), live detection states (the states of the shown
 * photos polled every 2 s while one waits or is being detected; a card whose state changed is
 * fetched again from the server), retry of a failed detection, and the recognizer's first
 * suggestion on each unlabeled face. Needs labeling.js (window.idolsite), loaded before it.
 * Words come from the JavaScript catalog; names and messages go in with textContent. */
(function () {
  "use strict";

  var root = document.getElementById("feed");
  if (!root) return;
  var conf = root.dataset;
  var csrf = document.body.dataset.csrf;
  var say = window.idolsite.say;
  var post = window.idolsite.post;
  var el = window.idolsite.el;
  var cardsEl = document.getElementById("pcards");
  var input = document.getElementById("upload-input");
  var list = document.getElementById("uploads");
  var percent = new Intl.NumberFormat(document.documentElement.lang || undefined, { style: "percent" });
  var POLL_MS = 2000;
  var PARALLEL = 2;
  var pollTimer = null;

  function cards() { return Array.prototype.slice.call(cardsEl.querySelectorAll("[data-photo-card]")); }
  function cardOf(id) { return cardsEl.querySelector('[data-photo-card="' + id + '"]'); }
  function live(card) { return card.dataset.state === "waiting" || card.dataset.state === "detecting"; }

  // A card as the server rendered it (every name escaped there); nothing from JSON data is
  // ever parsed as HTML here.
  function fromHtml(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var card = doc.body.firstElementChild;
    return card ? document.adoptNode(card) : null;
  }

  // Put a card rendered by the server in place of the shown one, or a new photo where the
  // server's order (newest id first) puts it: parallel uploads finish in any order.
  function place(html, fresh) {
    var card = fromHtml(html);
    if (!card) return null;
    var old = cardOf(card.dataset.photoCard);
    if (old) old.replaceWith(card);
    else {
      var id = Number(card.dataset.photoCard);
      var after = cards().filter(function (c) { return Number(c.dataset.photoCard) < id; })[0];
      cardsEl.insertBefore(card, after || null);
    }
    if (fresh) card.classList.add("fresh");
    var empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
    suggest([card]);
    return card;
  }

  function refresh(card) {
    return fetch(card.dataset.cardUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(interpolate(gettext("the server answered %s"), [response.status]));
        return response.text();
      })
      .then(function (html) { place(html, card.classList.contains("fresh")); });
  }

  // --- live states -------------------------------------------------------------------------

  function poll() {
    pollTimer = null;
    var waiting = cards().filter(live);
    if (!waiting.length) return;
    // The server answers at most 200 at once (labeling.feed.MAX_STATUS_IDS): the newest first.
    var ids = waiting.slice(0, 200).map(function (card) { return card.dataset.photoCard; });
    fetch(conf.statusUrl + "?ids=" + ids.join(","), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(interpolate(gettext("the server answered %s"), [response.status]));
        return response.json();
      })
      .then(function (json) {
        var changed = json.photos.filter(function (p) {
          var card = cardOf(p.id);
          return card && card.dataset.state !== p.state;
        });
        return Promise.all(changed.map(function (p) { return refresh(cardOf(p.id)); }));
      })
      .catch(function (err) { say(err.message, true); })
      .then(schedule);
  }

  function schedule() {
    if (pollTimer === null && cards().some(live)) pollTimer = setTimeout(poll, POLL_MS);
  }

  // --- retry -------------------------------------------------------------------------------

  cardsEl.addEventListener("click", function (e) {
    var button = e.target.closest("[data-retry]");
    if (!button) return;
    button.disabled = true;
    post(button.dataset.retry, {})
      .then(function (json) {
        place(json.html, false);
        say(gettext("Queued for detection again."));
        schedule();
      })
      .catch(function (err) { button.disabled = false; say(err.message, true); });
  });

  // --- suggestions -------------------------------------------------------------------------

  function suggest(scope) {
    var boxes = [];
    scope.forEach(function (card) {
      Array.prototype.push.apply(boxes, card.querySelectorAll(".box[data-open]"));
    });
    if (!boxes.length || !conf.suggestUrl) return;
    var byFace = {};
    boxes.forEach(function (box) { byFace[box.dataset.boxFace] = box; });
    var ids = Object.keys(byFace);
    for (var i = 0; i < ids.length; i += 500) {
      var chunk = ids.slice(i, i + 500);
      fetch(conf.suggestUrl + "?faces=" + chunk.join(","), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (json) {
          json.results.forEach(function (s) {
            var box = byFace[s.face];
            if (!box || s.unknown || !s.top || !s.top.length) return;
            var label = box.querySelector(".box-label");
            var guess = s.top[0];
            var sg = el("span", "sg", " " + guess.name + " " + percent.format(guess.probability));
            sg.title = gettext("Suggested names");
            label.appendChild(sg);
          });
          root.dataset.suggested = "1";  // for the browser tests: the answer is on the page
        })
        .catch(function () { /* suggestions are a help; the feed works without them */ });
    }
  }

  // --- uploads -----------------------------------------------------------------------------

  var queue = [];
  var running = 0;

  function row(file) {
    var li = el("li");
    li.appendChild(el("span", "name", file.name));
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    li.appendChild(bar);
    li.appendChild(el("span", "msg", gettext("waiting to upload")));
    list.appendChild(li);
    return li;
  }

  function finish(li, ok, message, link) {
    li.classList.add(ok ? "ok" : "bad");
    li.querySelector("progress").value = 100;
    var msg = li.querySelector(".msg");
    msg.textContent = message;
    if (link) {
      var a = el("a", "", gettext("open the stored photo"));
      a.href = link;
      msg.appendChild(document.createTextNode(" "));
      msg.appendChild(a);
    }
  }

  function send(item) {
    running++;
    var li = item.li;
    var xhr = new XMLHttpRequest();
    var form = new FormData();
    form.append("image", item.file, item.file.name);
    xhr.open("POST", input.dataset.uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      li.querySelector("progress").value = Math.round((e.loaded / e.total) * 100);
      li.querySelector(".msg").textContent = interpolate(gettext("uploading… %s"), [percent.format(e.loaded / e.total)]);
    };
    xhr.onload = function () {
      var json = {};
      try { json = JSON.parse(xhr.responseText); } catch (err) { json = {}; }
      if (xhr.status === 201) {
        finish(li, true, interpolate(gettext("stored as photo %s"), [json.id]));
        place(json.html, true);
        schedule();
      } else {
        var detail = json.detail || interpolate(gettext("the server answered %s"), [xhr.status]);
        finish(li, false, detail, json.error === "duplicate" ? json.url : null);
      }
      done();
    };
    xhr.onerror = function () {
      finish(li, false, gettext("the upload failed: the server cannot be reached"));
      done();
    };
    xhr.send(form);
  }

  function done() {
    running--;
    next();
  }

  function next() {
    while (running < PARALLEL && queue.length) send(queue.shift());
  }

  function upload(files) {
    if (!input) { say(gettext("Your role cannot upload photos."), true); return; }
    Array.prototype.forEach.call(files, function (file) { queue.push({ file: file, li: row(file) }); });
    next();
  }

  if (input) {
    input.addEventListener("change", function () {
      upload(input.files);
      input.value = "";
    });
  }
  function hasFiles(e) {
    return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types, "Files") >= 0;
  }
  document.addEventListener("dragover", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", function (e) {
    if (e.relatedTarget === null) document.body.classList.remove("dragging");
  });
  document.addEventListener("drop", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    document.body.classList.remove("dragging");
    upload(e.dataTransfer.files);
  });

  suggest(cards());
  schedule();
})();
