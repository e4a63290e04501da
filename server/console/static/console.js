// Live refresh for the console: the server says "change" when something in
// this person's scope changed. The queue page reloads (unless they are
// typing in it); other pages, where a half-written form must never be
// lost, show a banner offering the reload. Without this script the pages
// work the same, with a manual reload.
(function () {
  if (!window.EventSource) return;
  var main = document.querySelector("main");
  var mode = main && main.getAttribute("data-live");
  if (!mode) return;
  var es = new EventSource("/console/events");
  es.addEventListener("change", function () {
    var a = document.activeElement;
    var typing = a && (a.tagName === "TEXTAREA" || a.tagName === "INPUT" || a.tagName === "SELECT") && a.value;
    if (mode === "reload" && !typing) {
      window.location.reload();
    } else {
      document.getElementById("live").hidden = false;
    }
  });
  es.addEventListener("signedout", function () { es.close(); });
})();
