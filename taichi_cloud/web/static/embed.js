// Embedded player: playlist, captions, resume, progress heartbeats and a postMessage API.
// Commands from the parent page: {type: "taichi:play"}, {type: "taichi:pause"},
// {type: "taichi:seek", time: seconds}, {type: "taichi:select", index: n}.
// Events to the parent: taichi:ready {index, entry, lesson, duration},
// taichi:progress {index, time, duration} (at most once a second), taichi:ended {index}.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("embed-data").textContent);
  var video = document.getElementById("embed-video");
  var items = data.items || [];
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var current = -1, session = randomId(), seq = 0, segStart = null, lastTime = 0;
  var pending = [], lastProgressPost = 0, timer = null, hls = null;

  function randomId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function post(type, extra) {
    if (window.parent === window) return;
    var message = {type: "taichi:" + type, index: current};
    for (var k in extra) message[k] = extra[k];
    window.parent.postMessage(message, "*");
  }
  function item() { return items[current]; }

  function load(index, autoplay) {
    if (!video || index < 0 || index >= items.length) return;
    if (current >= 0) beat("terminate");
    current = index; seq = 0; session = randomId(); segStart = null; pending = [];
    var it = item();
    while (video.firstChild) video.removeChild(video.firstChild);
    if (it.poster) video.poster = it.poster;
    if (hls) { hls.destroy(); hls = null; }
    if (it.hls && window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({enableWorker: false});  // no blob: workers under this page's CSP
      hls.loadSource(it.hls);
      hls.attachMedia(video);
    } else if (it.hls) {
      video.src = it.hls;  // the browser's own HLS (Safari, iOS, Android)
      if (!video.canPlayType("application/vnd.apple.mpegurl")) video.title = data.messages.unsupported;
    }
    it.captions.forEach(function (c) {
      var track = document.createElement("track");
      track.kind = "subtitles"; track.srclang = c.lang; track.label = c.lang; track.src = c.url;
      video.appendChild(track);
    });
    applyCaptions();
    var buttons = document.querySelectorAll(".embed-playlist button");
    Array.prototype.forEach.call(buttons, function (b) {
      b.setAttribute("aria-current", String(Number(b.dataset.index) === index));
    });
    video.addEventListener("loadedmetadata", function once() {
      video.removeEventListener("loadedmetadata", once);
      if (it.resume > 0 && it.resume < (video.duration || Infinity) - 1) video.currentTime = it.resume;
      lastTime = video.currentTime;
      post("ready", {entry: it.entry, lesson: it.lesson, duration: video.duration});
      if (autoplay) video.play().catch(function () {});
    });
  }

  function applyCaptions() {
    var wanted = (document.getElementById("embed-captions") || {}).value || "";
    if (!video) return;
    Array.prototype.forEach.call(video.textTracks, function (t) {
      t.mode = wanted && t.language === wanted ? "showing" : "disabled";
    });
  }

  function closeSegment(end) {
    if (segStart !== null && end > segStart) pending.push([segStart, end]);
    segStart = null;
  }

  function beat(event, from) {
    var it = item();
    if (!data.heartbeats || !it || !it.lesson || !video) return;
    if (segStart !== null) { closeSegment(video.currentTime); if (!video.paused) segStart = video.currentTime; }
    var body = {session: session, seq: seq++, position: video.currentTime || 0, segments: pending,
                at: new Date().toISOString()};
    if (isFinite(video.duration) && video.duration > 0) body.duration = video.duration;
    if (event) body.event = event;
    if (from !== undefined) body.from = from;
    pending = [];
    fetch("/api/v1/progress/" + encodeURIComponent(it.lesson), {
      method: "PUT", credentials: "same-origin", keepalive: true,
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).catch(function () {});
  }

  if (video) {
    video.addEventListener("playing", function () { segStart = video.currentTime; beat("play"); });
    video.addEventListener("timeupdate", function () {
      var t = video.currentTime;
      if (segStart !== null && Math.abs(t - lastTime) > 1.5) { closeSegment(lastTime); segStart = t; }
      lastTime = t;
      var now = Date.now();
      if (now - lastProgressPost > 1000) { lastProgressPost = now; post("progress", {time: t, duration: video.duration}); }
    });
    var seekFrom = null;
    video.addEventListener("seeking", function () { if (seekFrom === null) seekFrom = lastTime; closeSegment(lastTime); });
    video.addEventListener("seeked", function () {
      var from = seekFrom; seekFrom = null; lastTime = video.currentTime;
      if (!video.paused) segStart = video.currentTime;
      beat("seek", from === null ? undefined : from);
    });
    video.addEventListener("pause", function () { closeSegment(video.currentTime); beat("pause"); });
    video.addEventListener("ended", function () {
      closeSegment(video.currentTime); beat("ended"); post("ended", {});
      if (current + 1 < items.length) load(current + 1, true);
    });
    timer = setInterval(function () { if (!video.paused) beat(); }, 10000);
    window.addEventListener("pagehide", function () { clearInterval(timer); beat("terminate"); });
  }

  window.addEventListener("message", function (e) {
    if (e.source !== window.parent || !e.data || typeof e.data !== "object" || !video) return;
    switch (e.data.type) {
      case "taichi:play": video.play().catch(function () {}); break;
      case "taichi:pause": video.pause(); break;
      case "taichi:seek":
        var t = Number(e.data.time);
        if (isFinite(t) && t >= 0) video.currentTime = t;
        break;
      case "taichi:select":
        var i = Number(e.data.index);
        if (i >= 0 && i < items.length) load(i, true);
        break;
    }
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest(".embed-playlist button");
    if (button) load(Number(button.dataset.index), true);
  });
  var captions = document.getElementById("embed-captions");
  if (captions) captions.addEventListener("change", applyCaptions);
  var lang = document.getElementById("embed-lang");
  if (lang) lang.addEventListener("change", function () { lang.form.submit(); });

  var start = 0;
  for (var i = 0; i < items.length; i++) { if (items[i].resume > 0) { start = i; break; } }
  load(start, false);
})();
