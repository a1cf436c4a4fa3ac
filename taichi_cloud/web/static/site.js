// Small behaviours shared by every page (no inline scripts: the CSP forbids them).
(function () {
  "use strict";
  const select = document.getElementById("lang-select");
  if (select) select.addEventListener("change", function () { select.form.submit(); });
  document.querySelectorAll("[data-zoom]").forEach(function (img) {
    img.addEventListener("click", function () {
      const zoomed = img.classList.toggle("zoomed");
      img.setAttribute("aria-expanded", String(zoomed));
      // Zoomed: the largest file at its own pixel size; otherwise the responsive choice.
      if (zoomed) { img.dataset.srcset = img.srcset; img.srcset = ""; img.src = img.dataset.full; }
      else if (img.dataset.srcset) { img.srcset = img.dataset.srcset; }
    });
    img.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); img.click(); }
    });
  });
})();
