// Finds the LMS's SCORM 1.2 API as ADL's sample code does, reports progress through the screens and the knowledge
// check's score, and resumes at the screen the learner left (cmi.suspend_data).
(function () {
  function findAPI(win) {
    for (var i = 0; win && i < 8; i++) {
      if (win.API) return win.API;
      if (win.parent === win) break;
      win = win.parent;
    }
    return null;
  }
  var api = findAPI(window);
  var screens = document.querySelectorAll(".screen");
  var at = 1;
  if (api) {
    api.LMSInitialize("");
    var saved = /screen=(\d)/.exec(api.LMSGetValue("cmi.suspend_data") || "");
    if (saved) at = Math.min(+saved[1], screens.length);
    if (api.LMSGetValue("cmi.core.lesson_status") === "not attempted") api.LMSSetValue("cmi.core.lesson_status", "incomplete");
  }
  function show(n) {
    at = n;
    screens.forEach(function (s) { s.hidden = +s.dataset.screen !== n; });
    document.getElementById("step").textContent = "Screen " + n + " of " + screens.length;
    document.getElementById("back").disabled = n === 1;
    document.getElementById("next").disabled = n === screens.length;
    if (api) {
      api.LMSSetValue("cmi.core.lesson_location", String(n));
      api.LMSSetValue("cmi.suspend_data", "screen=" + n);
      api.LMSCommit("");
    }
  }
  document.getElementById("back").addEventListener("click", function () { show(at - 1); });
  document.getElementById("next").addEventListener("click", function () { show(at + 1); });
  document.getElementById("check").addEventListener("submit", function (e) {
    e.preventDefault();
    var f = e.target;
    var right = (f.q1.value === "b" ? 1 : 0) + (f.q2.value === "a" ? 1 : 0);
    var score = right * 50;
    var passed = score >= 70;
    document.getElementById("result").textContent = (passed ? "Passed" : "Not passed") + ": " + right + " of 2 right.";
    if (api) {
      api.LMSSetValue("cmi.core.score.raw", String(score));
      api.LMSSetValue("cmi.core.score.min", "0");
      api.LMSSetValue("cmi.core.score.max", "100");
      api.LMSSetValue("cmi.core.lesson_status", passed ? "passed" : "failed");
      api.LMSSetValue("cmi.core.exit", passed ? "" : "suspend");
      api.LMSFinish("");
      api = null;
    }
  });
  show(at);
})();
