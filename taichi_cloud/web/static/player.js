// Watch page: adaptive playback, quality/caption/speed menus, mirror, A–B loop, chapters,
// storyboard previews, resume and progress heartbeats. No framework; hls.js when MSE exists.
(function () {
  "use strict";
  const video = document.getElementById("player");
  if (!video) return;
  const root = document.getElementById("watch");
  const $ = (sel) => root.querySelector(sel);
  const src = video.dataset.hls;
  const params = new URLSearchParams(location.search);
  const state = { hls: null, loopA: null, loopB: null, segments: [], segStart: null, lastPos: null, seq: 0 };
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function fmt(t) {
    t = Math.max(0, Math.floor(t));
    const m = Math.floor(t / 60), s = t % 60;
    return m + ":" + String(s).padStart(2, "0");
  }

  // --- source: hls.js over MSE (gives the quality menu), else the browser's own HLS ---------
  const quality = $("#quality");
  function attach() {
    if (window.Hls && window.Hls.isSupported()) {
      const hls = new window.Hls({ enableWebVTT: false, capLevelToPlayerSize: false });
      state.hls = hls;
      hls.on(window.Hls.Events.MANIFEST_PARSED, function (_e, data) {
        quality.innerHTML = "";
        quality.add(new Option(quality.dataset.auto, "-1"));
        data.levels.forEach(function (level, i) {
          quality.add(new Option(level.height + "p", String(i)));
        });
        quality.disabled = false;
        root.dataset.engine = "hls.js";
        root.dataset.levels = String(data.levels.length);
      });
      hls.on(window.Hls.Events.LEVEL_SWITCHED, function (_e, data) {
        root.dataset.level = String(data.level);
      });
      hls.on(window.Hls.Events.ERROR, function (_e, data) {
        if (data.fatal) showError(data.type + ": " + data.details);
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;
      root.dataset.engine = "native";
      quality.disabled = true;
    } else {
      showError(root.dataset.noPlayer);
    }
  }
  quality.addEventListener("change", function () {
    if (state.hls) state.hls.currentLevel = Number(quality.value);
  });
  function showError(text) {
    const box = $("#player-error");
    box.textContent = text;
    box.hidden = false;
  }

  // --- captions: our <track> elements, one shown at a time ----------------------------------
  const captions = $("#captions");
  captions.addEventListener("change", function () {
    Array.prototype.forEach.call(video.textTracks, function (track) {
      track.mode = track.language === captions.value ? "showing" : "disabled";
    });
  });

  // --- speed and mirror ----------------------------------------------------------------------
  const speed = $("#speed");
  speed.addEventListener("change", function () { video.playbackRate = Number(speed.value); });
  const mirror = $("#mirror");
  mirror.addEventListener("click", function () {
    const on = mirror.getAttribute("aria-pressed") !== "true";
    mirror.setAttribute("aria-pressed", String(on));
    video.classList.toggle("mirrored", on);
  });

  // --- A–B loop ------------------------------------------------------------------------------
  const loopLabel = $("#loop-state");
  function showLoop() {
    loopLabel.textContent = state.loopA === null ? "" :
      fmt(state.loopA) + " – " + (state.loopB === null ? "…" : fmt(state.loopB));
    root.dataset.loop = state.loopA !== null && state.loopB !== null ? state.loopA + "-" + state.loopB : "";
  }
  $("#loop-a").addEventListener("click", function () { state.loopA = video.currentTime; state.loopB = null; showLoop(); });
  $("#loop-b").addEventListener("click", function () {
    if (state.loopA !== null && video.currentTime > state.loopA) { state.loopB = video.currentTime; showLoop(); }
  });
  $("#loop-clear").addEventListener("click", function () { state.loopA = state.loopB = null; showLoop(); });

  // --- chapters (postures) -------------------------------------------------------------------
  root.querySelectorAll("[data-start]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      video.currentTime = Number(link.dataset.start);
      video.play().catch(function () {});
    });
  });
  function markChapter() {
    let current = null;
    root.querySelectorAll(".chapters [data-start]").forEach(function (link) {
      if (Number(link.dataset.start) <= video.currentTime + 0.05) current = link;
      link.removeAttribute("aria-current");
    });
    if (current) current.setAttribute("aria-current", "true");
  }

  // --- seek bar with storyboard previews -----------------------------------------------------
  const seek = $("#seek"), preview = $("#preview"), timeLabel = $("#time");
  let cues = [];
  if (video.dataset.storyboard) {
    fetch(video.dataset.storyboard).then(function (r) { return r.ok ? r.text() : ""; }).then(function (text) {
      const base = new URL(video.dataset.storyboard, location.href);
      text.split(/\n\n+/).forEach(function (block) {
        const m = block.match(/([\d:.]+)\s+-->\s+([\d:.]+)\s*\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)/);
        if (!m) return;
        const secs = function (v) { return v.split(":").reduce(function (a, b) { return a * 60 + Number(b); }, 0); };
        cues.push({ start: secs(m[1]), end: secs(m[2]), url: new URL(m[3], base).href,
                    x: +m[4], y: +m[5], w: +m[6], h: +m[7] });
      });
      root.dataset.storyboard = String(cues.length);
    }).catch(function () {});
  }
  function showPreview(t) {
    const cue = cues.find(function (c) { return t >= c.start && t < c.end; });
    if (!cue) { preview.hidden = true; return; }
    preview.hidden = false;
    preview.style.width = cue.w + "px";
    preview.style.height = cue.h + "px";
    preview.style.backgroundImage = "url(" + JSON.stringify(cue.url) + ")";
    preview.style.backgroundPosition = -cue.x + "px " + -cue.y + "px";
    preview.style.left = Math.max(0, Math.min(seek.offsetWidth - cue.w, (t / (video.duration || 1)) * seek.offsetWidth - cue.w / 2)) + "px";
  }
  seek.addEventListener("input", function () {
    const t = (Number(seek.value) / 1000) * (video.duration || 0);
    showPreview(t);
    video.currentTime = t;
  });
  seek.addEventListener("mousemove", function (event) {
    const rect = seek.getBoundingClientRect();
    showPreview(((event.clientX - rect.left) / rect.width) * (video.duration || 0));
  });
  seek.addEventListener("mouseleave", function () { preview.hidden = true; });

  // --- watched segments and heartbeats (for a lesson of a course the learner is enrolled in) -
  const lesson = video.dataset.lesson;
  const session = (crypto.randomUUID && crypto.randomUUID()) || String(Math.random()).slice(2);
  function closeSegment() {
    if (state.segStart !== null && state.lastPos !== null && state.lastPos > state.segStart) {
      state.segments.push([state.segStart, state.lastPos]);
    }
    state.segStart = null;
  }
  function track() {
    const t = video.currentTime;
    if (!video.paused && state.lastPos !== null && t >= state.lastPos && t - state.lastPos < 1.5 * Math.max(1, video.playbackRate)) {
      if (state.segStart === null) state.segStart = state.lastPos;
    } else {
      closeSegment();
    }
    state.lastPos = t;
  }
  function beat(event, from) {
    if (!lesson) return;
    closeSegment();
    const segments = state.segments.splice(0);
    if (!video.paused) state.segStart = video.currentTime;
    state.seq += 1;
    const body = { session: session, seq: state.seq, position: video.currentTime, segments: segments,
                   duration: isFinite(video.duration) ? video.duration : 0 };
    if (event) body.event = event;
    if (from !== undefined && from !== null) body.from = from;
    fetch("/api/v1/progress/" + encodeURIComponent(lesson), {
      method: "PUT", credentials: "same-origin", keepalive: event === "terminate",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body),
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (p) {
      if (!p) return;
      const bar = $("#lesson-progress");
      if (bar) { bar.value = p.fraction; bar.textContent = Math.round(p.fraction * 100) + "%"; }
      root.dataset.watched = String(p.watched_seconds);
      root.dataset.completed = String(p.completed);
    }).catch(function () {});
  }

  // --- events --------------------------------------------------------------------------------
  video.addEventListener("timeupdate", function () {
    if (state.loopA !== null && state.loopB !== null && video.currentTime >= state.loopB) {
      closeSegment();
      video.currentTime = state.loopA;
      state.lastPos = state.loopA;
    }
    track();
    markChapter();
    if (video.duration) seek.value = String(Math.round((video.currentTime / video.duration) * 1000));
    timeLabel.textContent = fmt(video.currentTime) + " / " + fmt(video.duration || 0);
  });
  let seekFrom = null;
  video.addEventListener("play", function () { state.lastPos = video.currentTime; beat("play"); });
  video.addEventListener("pause", function () { track(); beat("pause"); });
  video.addEventListener("seeking", function () { if (seekFrom === null) seekFrom = state.lastPos; closeSegment(); });
  video.addEventListener("seeked", function () {
    state.lastPos = video.currentTime;
    markChapter();
    if (seekFrom !== null && Math.abs(seekFrom - video.currentTime) > 0.5) beat("seek", seekFrom);
    seekFrom = null;
  });
  video.addEventListener("ended", function () { track(); beat("ended"); });
  window.addEventListener("pagehide", function () { track(); beat("terminate"); });
  setInterval(function () { if (!video.paused) { track(); beat(); } }, 10000);

  video.addEventListener("loadedmetadata", function () {
    const start = Number(params.get("t") || video.dataset.resume || 0);
    if (start > 0 && start < video.duration) video.currentTime = start;
  }, { once: true });

  attach();
  root.dataset.ready = "true";
})();
