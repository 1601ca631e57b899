// Filters the preview's cards. State lives in the URL fragment, so a filtered view can be shared
// or opened directly: #audience=migrants-kg,students&locale=ky&platform=telegram&warnings=1
// A key that is absent means "all"; a key that is present shows only the values it lists.
(() => {
  "use strict";
  const KEYS = ["audience", "locale", "platform"];
  const filters = document.getElementById("filters");
  const count = document.getElementById("count");
  const noMatch = document.getElementById("no-match");
  const onlyWarnings = document.getElementById("only-warnings");
  const cards = Array.from(document.querySelectorAll("article.card"));
  const days = Array.from(document.querySelectorAll("section.day"));
  if (!filters || !count || !noMatch || !onlyWarnings || cards.length === 0) return;

  const boxes = (key) => Array.from(filters.querySelectorAll(`input[data-key="${key}"]`));

  function readFragment() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    for (const key of KEYS) {
      const all = !params.has(key);
      const wanted = new Set(
        params.getAll(key).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean),
      );
      for (const box of boxes(key)) box.checked = all || wanted.has(box.value);
    }
    onlyWarnings.checked = ["1", "true", "yes", "only"].includes(params.get("warnings") || "");
  }

  function writeFragment() {
    const parts = [];
    for (const key of KEYS) {
      const all = boxes(key);
      const on = all.filter((b) => b.checked).map((b) => encodeURIComponent(b.value));
      if (on.length !== all.length) parts.push(`${key}=${on.join(",")}`);
    }
    if (onlyWarnings.checked) parts.push("warnings=1");
    const { pathname, search } = window.location;
    try {
      window.history.replaceState(null, "", parts.length ? `#${parts.join("&")}` : pathname + search);
    } catch (_) {
      // Some browsers refuse history changes on file: URLs; filtering still works.
    }
  }

  function apply() {
    const selected = {};
    for (const key of KEYS) {
      selected[key] = new Set(boxes(key).filter((b) => b.checked).map((b) => b.value));
    }
    let shown = 0;
    for (const card of cards) {
      const visible =
        KEYS.every((key) => selected[key].has(card.dataset[key])) &&
        (!onlyWarnings.checked || card.dataset.warnings !== "0");
      card.hidden = !visible;
      if (visible) shown += 1;
    }
    for (const day of days) {
      const here = day.querySelectorAll("article.card:not([hidden])").length;
      const label = day.querySelector(".day-count");
      const total = Number(label.dataset.total);
      day.hidden = here === 0;
      label.textContent =
        here === total ? `${total} post${total === 1 ? "" : "s"}` : `${here} of ${total} posts`;
    }
    count.textContent = `${shown} of ${cards.length} posts shown`;
    noMatch.hidden = shown !== 0;
  }

  filters.hidden = false;
  readFragment();
  apply();
  filters.addEventListener("change", () => {
    apply();
    writeFragment();
  });
  document.getElementById("show-all").addEventListener("click", () => {
    for (const box of filters.querySelectorAll("input[type=checkbox]")) {
      box.checked = box !== onlyWarnings;
    }
    apply();
    writeFragment();
  });
  window.addEventListener("hashchange", () => {
    readFragment();
    apply();
  });
})();
