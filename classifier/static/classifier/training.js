/* The training pages follow a run without a full reload: while a run is queued or running, the
   page is fetched again every few seconds and its live parts ([data-live], by id) replaced. A
   run's page reloads once when its run ends, to show the evaluation. */
(function () {
  "use strict";
  var page = document.querySelector("[data-live-page]");
  if (!page || !page.hasAttribute("data-refresh")) return;
  var EVERY_MS = 4000;

  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var freshPage = fresh.querySelector("[data-live-page]");
        if (!freshPage) return;
        if (!freshPage.hasAttribute("data-refresh") && page.hasAttribute("data-reload-when-done")) {
          window.location.reload();
          return;
        }
        document.querySelectorAll("[data-live][id]").forEach(function (part) {
          var next = fresh.getElementById(part.id);
          if (next && next.innerHTML !== part.innerHTML) part.innerHTML = next.innerHTML;
        });
        if (freshPage.hasAttribute("data-refresh")) window.setTimeout(refresh, EVERY_MS);
      })
      .catch(function () {
        window.setTimeout(refresh, EVERY_MS * 3); // the server restarting: try again later
      });
  }
  window.setTimeout(refresh, EVERY_MS);
})();
