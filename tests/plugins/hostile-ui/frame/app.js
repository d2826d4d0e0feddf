// Custom client code in a sandboxed frame: it may talk to its own plugin's JSON routes through the bridge, and
// nothing else. Everything it tries is reported to the page's console, where the browser test reads it.
(async function () {
  const report = (what, value) => console.log("frame:" + what + "=" + value);
  try {
    report("parent-dom", String(window.parent.document.title));
  } catch (e) {
    report("parent-dom", "blocked");
  }
  try {
    document.cookie = "x=1";
    report("cookie", document.cookie.includes("portico_session") ? "readable" : "none");
  } catch (e) {
    report("cookie", "blocked");
  }
  try {
    await fetch("/api/v1/p/hostile-ui/beacon?from=frame-fetch", { method: "POST" });
    report("direct-fetch", "sent");
  } catch (e) {
    report("direct-fetch", "blocked");
  }
  const own = await window.portico.request("POST", "/api/v1/p/hostile-ui/frame-ping", {});
  report("bridge-own", own.status);
  const other = await window.portico.request("GET", "/api/v1/users", null);
  report("bridge-host", other.status);
  const plugin = await window.portico.request("GET", "/api/v1/p/guestbook/entries", null);
  report("bridge-other-plugin", plugin.status);
  document.getElementById("out").textContent = "done";
  report("done", "yes");
})();
