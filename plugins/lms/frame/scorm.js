// The SCORM 1.2 player of the training plugin, inside the portal's sandboxed plugin frame.
//
// The SCO (the package's launch page) runs in a child frame made from its HTML (srcdoc), with the package's files
// resolving against <base href> (the host serves the unpacked package by path) and, injected first in its <head>,
// `window.API`: the eight SCORM 1.2 functions, answering synchronously from the learner's data given at launch.
// The child is sandboxed too, so it has an opaque origin of its own: it reaches this shell only by postMessage,
// and the shell reaches the plugin only through the portal's bridge (frame.js). LMSCommit and LMSFinish post what
// changed; the shell sends it to the plugin one commit at a time, numbered, so a commit never overtakes another.
// The plugin checks every value again: it, not the browser, decides what counts.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  const course = params.get("course") || "";
  const lesson = params.get("lesson") || "";
  const preview = params.get("preview") === "1";
  const api = "/api/v1/p/lms/scorm/" + encodeURIComponent(course) + "/" + encodeURIComponent(lesson);
  const status = document.getElementById("status");
  const child = document.getElementById("sco");

  function say(text, problem) {
    status.textContent = text;
    status.className = problem ? "problem" : "";
  }

  // Runs in the SCO's window (serialised into it), with the data given at launch. Nothing of this shell is
  // reachable from there.
  function runtime(init) {
    var values = init.values, changed = {}, last = 0, state = "new";
    var readOnly = { "cmi.core.student_id": 1, "cmi.core.student_name": 1, "cmi.core.credit": 1, "cmi.core.entry": 1,
      "cmi.core.total_time": 1, "cmi.core.lesson_mode": 1, "cmi.launch_data": 1 };
    var writeOnly = { "cmi.core.exit": 1, "cmi.core.session_time": 1 };
    var children = {
      "cmi.core._children": "student_id,student_name,lesson_location,credit,lesson_status,entry,score,total_time,lesson_mode,exit,session_time",
      "cmi.core.score._children": "raw,min,max",
    };
    var messages = { "0": "No error", "101": "General exception", "201": "Invalid argument error",
      "202": "Element cannot have children", "203": "Element not an array - cannot have count",
      "301": "Not initialized", "401": "Not implemented error", "402": "Invalid set value, element is a keyword",
      "403": "Element is read only", "404": "Element is write only", "405": "Incorrect data type" };
    var decimal = /^\d{1,3}(\.\d+)?$/;
    var checks = {
      "cmi.core.lesson_status": function (v) { return /^(passed|completed|failed|incomplete|browsed)$/.test(v); },
      "cmi.core.lesson_location": function (v) { return v.length <= 255; },
      "cmi.core.score.raw": function (v) { return v === "" || (decimal.test(v) && +v <= 100); },
      "cmi.core.score.min": function (v) { return v === "" || (decimal.test(v) && +v <= 100); },
      "cmi.core.score.max": function (v) { return v === "" || (decimal.test(v) && +v <= 100); },
      "cmi.core.exit": function (v) { return /^(time-out|suspend|logout|)$/.test(v); },
      "cmi.core.session_time": function (v) { return /^\d{2,4}:[0-5]\d:[0-5]\d(\.\d{1,2})?$/.test(v); },
      "cmi.suspend_data": function (v) { return v.length <= 4096; },
      "cmi.comments": function (v) { return v.length <= 4096; },
    };
    function fail(code, result) { last = code; return result; }
    function send(finish) {
      window.parent.postMessage({ scorm: "commit", values: changed, finish: finish }, "*");
      changed = {};
    }
    window.API = {
      LMSInitialize: function (arg) {
        if (arg !== "" && arg !== undefined) return fail(201, "false");
        if (state !== "new") return fail(101, "false");
        state = "running";
        return fail(0, "true");
      },
      LMSFinish: function (arg) {
        if (arg !== "" && arg !== undefined) return fail(201, "false");
        if (state !== "running") return fail(301, "false");
        send(true);
        state = "finished";
        return fail(0, "true");
      },
      LMSGetValue: function (element) {
        if (state !== "running") return fail(301, "");
        element = String(element);
        if (Object.prototype.hasOwnProperty.call(children, element)) return fail(0, children[element]);
        if (/\._(children|count)$/.test(element)) return fail(/_count$/.test(element) ? 203 : 202, "");
        if (writeOnly[element]) return fail(404, "");
        if (Object.prototype.hasOwnProperty.call(values, element)) return fail(0, values[element]);
        return fail(401, "");
      },
      LMSSetValue: function (element, value) {
        if (state !== "running") return fail(301, "false");
        element = String(element);
        value = String(value);
        if (/\._(children|count)$/.test(element)) return fail(402, "false");
        if (readOnly[element]) return fail(403, "false");
        if (!checks[element]) return fail(401, "false");
        if (!checks[element](value)) return fail(405, "false");
        if (!writeOnly[element]) values[element] = value;
        changed[element] = value;
        return fail(0, "true");
      },
      LMSCommit: function (arg) {
        if (arg !== "" && arg !== undefined) return fail(201, "false");
        if (state !== "running") return fail(301, "false");
        send(false);
        return fail(0, "true");
      },
      LMSGetLastError: function () { return String(last); },
      LMSGetErrorString: function (code) { return messages[String(code)] || ""; },
      LMSGetDiagnostic: function (code) { return messages[String(code === "" || code == null ? last : code)] || ""; },
    };
  }

  // The SCO's page with <base> and the API first in its <head>. `<` is escaped in the data, so nothing in it
  // (suspend data, a learner's name) can close the script.
  function document_for(launch) {
    const init = JSON.stringify({ values: launch.values }).replace(/</g, "\\u003c");
    const base = '<base href="' + launch.base.replace(/"/g, "&quot;") + '">';
    const head = base + "<script>(" + runtime.toString() + ")(" + init + ");<\/script>";
    const html = launch.html;
    const at = html.search(/<head(\s[^>]*)?>/i);
    if (at >= 0) {
      const end = html.indexOf(">", at) + 1;
      return html.slice(0, end) + head + html.slice(end);
    }
    return "<!doctype html><html><head>" + head + "</head><body>" + html + "</body></html>";
  }

  let seq = 0;
  let pending = null;
  let sending = false;

  function show(result) {
    if (result.course_completed) say("Completed: the course is complete. You can close this lesson.");
    else if (result.done) say("Completed" + (result.score != null ? ", score " + result.score + " %" : "") + ". Your progress is saved.");
    else if (result.status === "failed") say("Not passed" + (result.score != null ? " (score " + result.score + " %)" : "") + ". Your progress is saved.");
    else say("Your progress is saved.");
  }

  async function flush() {
    if (sending || !pending) return;
    const batch = pending;
    pending = null;
    if (preview) {
      say("Preview: the content reported " + (batch.values["cmi.core.lesson_status"] || "progress") + " (not saved).");
      return;
    }
    sending = true;
    seq += 1;
    const res = await window.portico.request("POST", api + "/commit", { seq: seq, values: batch.values, finish: batch.finish });
    sending = false;
    if (res.status === 200 && res.body) show(res.body);
    else if (res.status === 401 || res.status === 403) say("Your session has ended: reload the page to go on. Your progress up to the last save is kept.", true);
    else if (res.body && res.body.error) say("Not saved: " + res.body.error.message, true);
    else say("Not saved: the portal could not be reached. Your next save will try again.", true);
    if (res.status !== 200 && res.status !== 422) {
      // Resent with whatever came after it.
      pending = pending ? { values: Object.assign({}, batch.values, pending.values), finish: batch.finish || pending.finish } : batch;
      return;
    }
    flush();
  }

  window.addEventListener("message", (e) => {
    if (e.source !== child.contentWindow || !e.data || e.data.scorm !== "commit") return;
    const values = {};
    for (const [k, v] of Object.entries(e.data.values || {})) if (typeof v === "string") values[k] = v;
    pending = pending || { values: {}, finish: false };
    Object.assign(pending.values, values);
    pending.finish = pending.finish || e.data.finish === true;
    flush();
  });

  (async function start() {
    const res = await window.portico.request("GET", api + (preview ? "?preview=1" : ""));
    if (res.status !== 200 || !res.body) {
      say((res.body && res.body.error && res.body.error.message) || "The course content could not be loaded.", true);
      return;
    }
    seq = res.body.seq || 0;
    child.srcdoc = document_for(res.body);
    child.hidden = false;
    say(preview ? "Preview of the draft: nothing is saved." : "Your progress is saved as you go.");
  })();
})();
