// Portico's behaviour script: the only script on the portal's origin besides the host's own pages. Plugin markup
// is untrusted and never runs script; it asks for interactivity with declarative attributes, which this script
// carries out, and only against the routes of the plugin whose markup it is (the host wraps every plugin page
// and widget in an element carrying data-pt-plugin, which plugin markup cannot forge or leave).
//
//   data-pt-get="/p/{plugin}/path"   fetch a fragment (the plugin's view rendered without the layout)
//   data-pt-target="#id"             where it goes (within the same plugin's markup; default: the element itself)
//   data-pt-trigger="input delay:350ms" | "change" | "load" | "every:10s"   when (default: change for selects,
//                                    input for fields and forms, click otherwise)
//   data-pt-include="#form-id"       whose fields go in the query string (default: the closest form, else the
//                                    element itself when it has a name)
//   data-pt-confirm="Delete it?"     ask before a form is submitted or a link or button acts
//   data-pt-frame="/plugin-frame/{plugin}/player.html"   custom client code, in a sandboxed opaque-origin frame
//                                    that reaches its plugin's JSON routes only through the bridge below
//
// And one behaviour of the host's own pages, never of plugin markup:
//   data-pt-widget="/dashboard/widgets/{plugin}/{name}"   a dashboard widget the page did not wait for, loaded on
//                                    its own (a slow widget holds up nothing else)
"use strict";
(function () {
  const FRAGMENT = { "X-Portico-Fragment": "1" };

  function rootOf(el) {
    return el.closest("[data-pt-plugin]");
  }

  // A URL the plugin whose markup `el` is in may reach: its pages, its JSON API, its frames; nothing else.
  function allowed(el, raw, kinds) {
    const root = rootOf(el);
    if (!root || !raw) return null;
    const id = root.dataset.ptPlugin;
    let url;
    try {
      url = new URL(raw, location.href);
    } catch (e) {
      return null;
    }
    if (url.origin !== location.origin) return null;
    const prefixes = { page: "/p/" + id + "/", api: "/api/v1/p/" + id + "/", frame: "/plugin-frame/" + id + "/" };
    const ok = kinds.some((k) => url.pathname.startsWith(prefixes[k]) || url.pathname + "/" === prefixes[k]);
    if (!ok) {
      console.warn("portico: " + raw + " is outside plugin " + id + "; ignored");
      return null;
    }
    return url;
  }

  function within(el, selector) {
    if (!selector) return el;
    const root = rootOf(el);
    let found = null;
    try {
      found = root.querySelector(selector);
    } catch (e) {
      found = null;
    }
    return found && rootOf(found) === root ? found : null;
  }

  function params(el) {
    const source = el.dataset.ptInclude ? within(el, el.dataset.ptInclude) : el.closest("form") || el;
    const out = new URLSearchParams();
    if (!source) return out;
    if (source.tagName === "FORM") {
      for (const [k, v] of new FormData(source)) {
        if (k !== "csrf_token" && typeof v === "string") out.append(k, v);
      }
    } else if (source.name) {
      out.append(source.name, source.value);
    }
    return out;
  }

  async function load(el) {
    const url = allowed(el, el.dataset.ptGet, ["page"]);
    const target = within(el, el.dataset.ptTarget);
    if (!url || !target) return;
    for (const [k, v] of params(el)) url.searchParams.append(k, v);
    const seq = (el._ptSeq = (el._ptSeq || 0) + 1);
    try {
      const res = await fetch(url, { credentials: "same-origin", headers: FRAGMENT });
      if (!res.ok || seq !== el._ptSeq) return;
      const html = await res.text();
      target.innerHTML = html;
      target.hidden = html.trim() === "";
      wire(target);
    } catch (e) {
      // A failed refresh leaves the region as it was.
    }
  }

  function triggerOf(el) {
    if (el.dataset.ptTrigger) return el.dataset.ptTrigger;
    if (el.tagName === "SELECT") return "change";
    if (["INPUT", "TEXTAREA", "FORM"].includes(el.tagName)) return "input";
    return "click";
  }

  function wireGet(el) {
    const words = triggerOf(el).split(/\s+/);
    const delay = words.map((w) => /^delay:(\d+)ms$/.exec(w)).find(Boolean);
    const wait = delay ? Number(delay[1]) : 0;
    let timer = null;
    const fire = () => {
      clearTimeout(timer);
      timer = setTimeout(() => load(el), wait);
    };
    for (const w of words) {
      const every = /^every:(\d+)s$/.exec(w);
      if (every) setInterval(() => document.visibilityState === "visible" && load(el), Math.max(2, +every[1]) * 1000);
      else if (w === "load") load(el);
      else if (["input", "change", "click"].includes(w)) {
        el.addEventListener(w, (e) => {
          if (w === "click") e.preventDefault();
          fire();
        });
      }
    }
  }

  function wireConfirm(el) {
    const ask = (e) => {
      if (!window.confirm(el.dataset.ptConfirm)) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    };
    el.addEventListener(el.tagName === "FORM" ? "submit" : "click", ask);
  }

  // The bridge: a sandboxed frame (opaque origin, no cookies, no access to this page) sends
  // {portico: "request", id, method, path, body} by postMessage; the host checks the path is its own plugin's
  // JSON API and makes the call with a short-lived token bound to that plugin and this user.
  function wireFrame(el) {
    const url = allowed(el, el.dataset.ptFrame, ["frame"]);
    const root = rootOf(el);
    if (!url || !root) return;
    const frame = document.createElement("iframe");
    frame.setAttribute("sandbox", "allow-scripts allow-forms");
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.title = el.dataset.ptFrameTitle || "Plugin content";
    frame.className = "pt-frame";
    if (el.dataset.ptFrameHeight) frame.height = String(parseInt(el.dataset.ptFrameHeight, 10) || 400);
    frame.src = url.href;
    el.replaceChildren(frame);
    window.addEventListener("message", async (e) => {
      if (e.source !== frame.contentWindow || !e.data || typeof e.data !== "object") return;
      const msg = e.data;
      if (msg.portico === "resize" && Number.isFinite(msg.height)) {
        frame.height = String(Math.min(Math.max(msg.height, 100), 4000));
        return;
      }
      if (msg.portico !== "request") return;
      const reply = (status, body) => frame.contentWindow.postMessage({ portico: "response", id: msg.id, status, body }, "*");
      const target = allowed(el, msg.path, ["api"]);
      if (!target) return reply(403, { error: { code: "forbidden", message: "the bridge reaches only this plugin's JSON API" } });
      const method = String(msg.method || "GET").toUpperCase();
      if (!["GET", "POST", "PUT", "PATCH", "DELETE"].includes(method)) return reply(405, null);
      try {
        const res = await fetch(target, {
          method,
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-Portico-Bridge": root.dataset.ptBridge || "" },
          body: method === "GET" ? undefined : JSON.stringify(msg.body === undefined ? null : msg.body),
        });
        const text = await res.text();
        let body = null;
        try {
          body = text ? JSON.parse(text) : null;
        } catch (err) {
          body = null;
        }
        reply(res.status, body);
      } catch (err) {
        reply(0, null);
      }
    });
  }

  async function loadWidget(el) {
    const raw = el.dataset.ptWidget;
    if (rootOf(el) || !raw || !raw.startsWith("/dashboard/widgets/")) return;
    let html = '<p class="muted">This widget is unavailable right now.</p>';
    try {
      const res = await fetch(raw, { credentials: "same-origin", headers: FRAGMENT });
      if (res.ok) html = await res.text();
    } catch (e) {
      // Shown as unavailable.
    }
    el.innerHTML = html;
    el.removeAttribute("aria-busy");
    wire(el);
  }

  function wire(scope) {
    const all = (sel) => (scope.matches && scope.matches(sel) ? [scope] : []).concat([...scope.querySelectorAll(sel)]);
    for (const el of all("[data-pt-confirm]")) if (!el._ptConfirm && (el._ptConfirm = true)) wireConfirm(el);
    for (const el of all("[data-pt-get]")) if (!el._ptGet && (el._ptGet = true)) wireGet(el);
    for (const el of all("[data-pt-frame]")) if (!el._ptFrame && (el._ptFrame = true)) wireFrame(el);
    for (const el of all("[data-pt-widget]")) if (!el._ptWidget && (el._ptWidget = true)) loadWidget(el);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => wire(document));
  else wire(document);
})();
