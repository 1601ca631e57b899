// The page: reads the posts once, keeps the filters and the view in the URL fragment (so a
// view can be shared or opened directly), and refreshes only the view on screen.
//   #view=calendar&month=2026-12&day=2026-12-18&audience=migrants-kg,students&locale=ky
//   &platform=telegram&warnings=1&errors=1&q=hotline
// A filter key that is absent means "all"; present, it shows only the values it lists.
const DATA = JSON.parse(document.getElementById("campaign-data").textContent);
const KEYS = ["audience", "locale", "platform"];
const VIEWS = ["timeline", "calendar", "matrix"];
const TRUE = ["1", "true", "yes", "only"];

// Posts as objects, each knowing its local day; DAYS lists the days in order.
const POSTS = DATA.posts.map((row) => {
  const [id, utc, offset, a, l, c, m, t, x, length, limit, warnings, errors] = row;
  return {
    id,
    utc,
    offset,
    audience: DATA.audiences[a],
    zone: DATA.zones[a],
    locale: DATA.locales[l],
    channel: DATA.channels[c],
    platform: DATA.platforms[c],
    message: DATA.messages[m],
    template: DATA.templates[t],
    text: DATA.texts[x],
    lowered: null, // the text in lower case, made on the first search
    length,
    limit,
    warnings: warnings.map((n) => DATA.notes[n]),
    errors: errors.map((n) => DATA.notes[n]),
    day: new Date((utc + offset) * 1000).toISOString().slice(0, 10),
  };
});
const DAYS = [];
{
  const byKey = new Map();
  for (const post of POSTS) {
    let day = byKey.get(post.day);
    if (!day) {
      day = { key: post.day, posts: [], matched: [] };
      byKey.set(post.day, day);
      DAYS.push(day);
    }
    day.posts.push(post);
  }
  DAYS.sort((a, b) => (a.key < b.key ? -1 : 1));
}
const ROUTES = DATA.routes.map(([m, a, l, c, status, t, w, posts, failed, refused]) => ({
  message: DATA.messages[m],
  audience: DATA.audiences[a],
  locale: DATA.locales[l],
  channel: DATA.channels[c],
  platform: DATA.platforms[c],
  status,
  template: t < 0 ? null : DATA.templates[t],
  writtenIn: w < 0 ? null : DATA.locales[w],
  posts,
  failed,
  refused,
}));

const state = {
  sets: { audience: null, locale: null, platform: null }, // null: every value
  warnings: false,
  errors: false,
  query: "",
  view: "timeline",
  month: null,
  day: null,
};
const stale = new Set(VIEWS);

const ui = {
  filters: document.getElementById("filters"),
  count: document.getElementById("count"),
  toolbar: document.getElementById("toolbar"),
  toggle: document.getElementById("filter-toggle"),
  onlyWarnings: document.getElementById("only-warnings"),
  onlyErrors: document.getElementById("only-errors"),
  search: document.getElementById("search"),
  tabs: VIEWS.map((v) => document.getElementById(`tab-${v}`)),
  panels: VIEWS.map((v) => document.getElementById(`view-${v}`)),
};

const boxes = (key) => Array.from(ui.filters.querySelectorAll(`input[data-key="${key}"]`));

function readFilters() {
  for (const key of KEYS) {
    const all = boxes(key);
    const on = all.filter((b) => b.checked).map((b) => b.value);
    state.sets[key] = on.length === all.length ? null : new Set(on);
  }
  state.warnings = ui.onlyWarnings.checked;
  state.errors = ui.onlyErrors.checked;
  state.query = ui.search.value.trim().toLowerCase();
}

function matches(post) {
  const { sets } = state;
  if (sets.audience && !sets.audience.has(post.audience)) return false;
  if (sets.locale && !sets.locale.has(post.locale)) return false;
  if (sets.platform && !sets.platform.has(post.platform)) return false;
  if (state.warnings && !post.warnings.length) return false;
  if (state.errors && !post.errors.length) return false;
  if (state.query) {
    if (post.lowered === null) post.lowered = post.text.toLowerCase();
    if (!post.lowered.includes(state.query)) return false;
  }
  return true;
}

function readFragment() {
  const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  for (const key of KEYS) {
    const all = !params.has(key);
    const wanted = new Set(
      params.getAll(key).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean),
    );
    for (const box of boxes(key)) box.checked = all || wanted.has(box.value);
  }
  ui.onlyWarnings.checked = TRUE.includes(params.get("warnings") || "");
  ui.onlyErrors.checked = TRUE.includes(params.get("errors") || "");
  ui.search.value = params.get("q") || "";
  const view = params.get("view");
  state.view = VIEWS.includes(view) ? view : "timeline";
  state.month = params.get("month");
  state.day = params.get("day");
  readFilters();
}

function writeFragment() {
  const parts = [];
  if (state.view !== "timeline") parts.push(`view=${state.view}`);
  if (state.view === "calendar" && state.month) parts.push(`month=${state.month}`);
  if (state.view === "calendar" && state.day) parts.push(`day=${state.day}`);
  for (const key of KEYS) {
    if (state.sets[key]) parts.push(`${key}=${[...state.sets[key]].map(encodeURIComponent).join(",")}`);
  }
  if (state.warnings) parts.push("warnings=1");
  if (state.errors) parts.push("errors=1");
  if (state.query) parts.push(`q=${encodeURIComponent(ui.search.value.trim())}`);
  const { pathname, search } = window.location;
  try {
    window.history.replaceState(null, "", parts.length ? `#${parts.join("&")}` : pathname + search);
  } catch (_) {
    // Some browsers refuse history changes on file: URLs; the page works the same.
  }
}

// Recount what the filters select; rebuild the view on screen, and the others when shown.
function apply() {
  let shown = 0;
  for (const day of DAYS) {
    day.matched = [];
    for (const post of day.posts) {
      post.shown = matches(post);
      if (post.shown) day.matched.push(post);
    }
    shown += day.matched.length;
  }
  ui.count.textContent = `${shown} of ${POSTS.length} posts shown`;
  ui.toggle.classList.toggle("active", filtering());
  state.shown = shown;
  for (const view of VIEWS) stale.add(view);
  refresh();
}

function refresh() {
  if (!stale.has(state.view)) return;
  stale.delete(state.view);
  const panel = ui.panels[VIEWS.indexOf(state.view)];
  if (state.view === "timeline") refreshTimeline(state.shown);
  else if (state.view === "calendar") renderCalendar(panel);
  else renderMatrix(panel);
}

function showView(view, focusTab) {
  state.view = view;
  VIEWS.forEach((name, i) => {
    const selected = name === view;
    ui.tabs[i].setAttribute("aria-selected", String(selected));
    ui.tabs[i].tabIndex = selected ? 0 : -1;
    ui.panels[i].hidden = !selected;
  });
  if (focusTab) ui.tabs[VIEWS.indexOf(view)].focus();
  refresh();
}

function filtering() {
  return KEYS.some((key) => state.sets[key]) || state.warnings || state.errors || Boolean(state.query);
}

function setFiltersOpen(open) {
  ui.filters.hidden = !open;
  ui.toggle.setAttribute("aria-expanded", String(open));
}

function boot() {
  if (!ui.filters || !ui.toolbar) return; // an empty campaign: nothing to filter
  buildTimeline(ui.panels[0]);
  ui.toolbar.hidden = false;
  readFragment();
  // The filters start folded, so the posts are on the first screen, unless the address set some.
  setFiltersOpen(filtering());
  apply();
  showView(state.view, false);

  ui.filters.addEventListener("change", () => {
    readFilters();
    apply();
    writeFragment();
  });
  ui.search.addEventListener("input", () => {
    readFilters();
    apply();
    writeFragment();
  });
  document.getElementById("show-all").addEventListener("click", () => {
    for (const box of ui.filters.querySelectorAll("input[type=checkbox]")) {
      box.checked = box !== ui.onlyWarnings && box !== ui.onlyErrors;
    }
    ui.search.value = "";
    readFilters();
    apply();
    writeFragment();
  });
  ui.toggle.addEventListener("click", () => setFiltersOpen(ui.filters.hidden));
  ui.tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => {
      showView(VIEWS[i], false);
      writeFragment();
    });
    // Tabs as WAI-ARIA describes them: arrows move between the views, Home and End too.
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: VIEWS.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      showView(VIEWS[(moves[event.key] + VIEWS.length) % VIEWS.length], true);
      writeFragment();
    });
  });
  window.addEventListener("hashchange", () => {
    const target = window.location.hash.match(/^#post-([\w-]+)$/);
    if (target) {
      showView("timeline", false);
      revealPost(target[1]);
      return;
    }
    readFragment();
    apply();
    showView(state.view, false);
  });
  const target = window.location.hash.match(/^#post-([\w-]+)$/);
  if (target) revealPost(target[1]);
  document.documentElement.dataset.ready = "1";
}

boot();
