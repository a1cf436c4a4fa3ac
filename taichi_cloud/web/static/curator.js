// Curator dashboard: resumable uploads (tus-js-client), live transcoding progress (SSE),
// workflow buttons and the multilingual edit form. Writes carry the session's CSRF token.
(function () {
  "use strict";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const status = document.getElementById("curator-status");
  function say(text) { if (status) status.textContent = text; }
  function api(method, url, body) {
    return fetch(url, { method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (data) { if (!r.ok) throw new Error(data.detail || r.statusText); return data; }); });
  }

  // --- uploads -------------------------------------------------------------------------------
  const section = document.getElementById("upload");
  if (section && window.tus) {
    const list = document.getElementById("uploads");
    const template = document.getElementById("upload-row");
    const input = document.getElementById("file-input");
    const zone = document.getElementById("dropzone");

    function follow(mediaId, row) {
      const bar = row.querySelector(".transcode-progress"), phase = row.querySelector(".phase");
      bar.hidden = false;
      const events = new EventSource("/api/v1/media/" + encodeURIComponent(mediaId) + "/events");
      // The stream names its events: "status" while working, then "ready" or "failed".
      function update(message) {
        const data = JSON.parse(message.data);
        bar.value = data.progress || 0;
        phase.textContent = data.status;
        row.dataset.status = data.status;
        if (data.status === "ready" || data.status === "failed") {
          phase.textContent = data.status === "ready" ? section.dataset.done : section.dataset.failed + (data.error ? ": " + data.error : "");
          events.close();
        }
      }
      ["status", "ready", "failed", "message"].forEach(function (name) { events.addEventListener(name, update); });
    }

    function start(file) {
      const row = template.content.firstElementChild.cloneNode(true);
      row.querySelector(".name").textContent = file.name;
      list.appendChild(row);
      const bar = row.querySelector(".upload-progress");
      const upload = new window.tus.Upload(file, {
        endpoint: "/api/v1/uploads", chunkSize: 8 * 1024 * 1024, retryDelays: [0, 1000, 3000, 5000],
        metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
        headers: { "X-CSRF-Token": csrf },
        removeFingerprintOnSuccess: true,
        onProgress: function (sent, total) { bar.value = total ? sent / total : 0; },
        onAfterResponse: function (_req, res) {
          const mediaId = res.getHeader("Taichi-Media-Id"), entryId = res.getHeader("Taichi-Entry-Id");
          if (mediaId) row.dataset.media = mediaId;
          if (entryId) {
            const link = row.querySelector(".entry-link");
            link.href = "/curator/entries/" + encodeURIComponent(entryId);
            link.hidden = false;
          }
        },
        onError: function (error) { row.dataset.status = "error"; row.querySelector(".phase").textContent = String(error.message || error); },
        onSuccess: function () { bar.value = 1; if (row.dataset.media) follow(row.dataset.media, row); },
      });
      // Resume an upload of the same file that a reload or a lost connection interrupted.
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      });
    }
    input.addEventListener("change", function () { Array.prototype.forEach.call(input.files, start); input.value = ""; });
    zone.addEventListener("dragover", function (event) { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("over");
      Array.prototype.forEach.call(event.dataTransfer.files, start);
    });
  }

  // --- workflow buttons ----------------------------------------------------------------------
  document.querySelectorAll("[data-transition]").forEach(function (button) {
    button.addEventListener("click", function () {
      const id = button.dataset.entry;
      const comment = document.getElementById("comment-" + id);
      api("POST", "/api/v1/entries/" + encodeURIComponent(id) + "/transitions",
          { to: button.dataset.transition, comment: comment ? comment.value : "" })
        .then(function (result) { say(result.from + " → " + result.to); button.closest("li").remove(); })
        .catch(function (error) { say(error.message); });
    });
  });

  // --- edit form: every locale's texts in one PATCH ------------------------------------------
  const form = document.getElementById("entry-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const translations = {};
      form.querySelectorAll("fieldset[data-locale]").forEach(function (set) {
        const text = {};
        set.querySelectorAll("[data-field]").forEach(function (field) { text[field.dataset.field] = field.value; });
        if (text.title.trim()) translations[set.dataset.locale] = text;
        else if (set.dataset.had === "1") translations[set.dataset.locale] = null;
      });
      const tags = form.elements.tags.value.split(",").map(function (t) { return t.trim(); }).filter(Boolean);
      const body = { translations: translations, visibility: form.elements.visibility.value, tags: tags,
                     style: form.elements.style.value.trim() || null };
      api("PATCH", "/api/v1/entries/" + encodeURIComponent(form.dataset.entry), body)
        .then(function () { say(form.dataset.saved); })
        .catch(function (error) { say(error.message); });
    });
  }
})();
