// Portico's bridge client for custom client code in a plugin frame. The frame runs sandboxed under an opaque
// origin: it has no cookies and cannot call the portal itself. This script asks the page around it, which calls
// the frame's own plugin's JSON routes (and only those) for it:
//
//   const { status, body } = await portico.request("POST", "/api/v1/p/my-plugin/things", { name: "x" });
//   portico.resize();   // fit the frame to the document's height
"use strict";
(function () {
  let next = 0;
  const waiting = new Map();
  window.addEventListener("message", (e) => {
    if (e.source !== window.parent || !e.data || e.data.portico !== "response") return;
    const done = waiting.get(e.data.id);
    if (done) {
      waiting.delete(e.data.id);
      done({ status: e.data.status, body: e.data.body });
    }
  });
  window.portico = {
    request(method, path, body) {
      const id = ++next;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        window.parent.postMessage({ portico: "request", id, method, path, body }, "*");
      });
    },
    resize() {
      window.parent.postMessage({ portico: "resize", height: document.documentElement.scrollHeight }, "*");
    },
  };
})();
