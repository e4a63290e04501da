// Live refresh for the console: the server says "change" when something in
// this person's scope changed; the page reloads unless they are typing, in
// which case a banner offers the reload. Without this script the pages
// work the same, with a manual reload.
(function () {
  if (!window.EventSource) return;
  var es = new EventSource("/console/events");
  es.addEventListener("change", function () {
    var a = document.activeElement;
    var typing = a && (a.tagName === "TEXTAREA" || a.tagName === "INPUT" || a.tagName === "SELECT") && a.value;
    if (typing) {
      document.getElementById("live").hidden = false;
    } else {
      window.location.reload();
    }
  });
  es.addEventListener("signedout", function () { es.close(); });
})();
