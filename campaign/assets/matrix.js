// The language matrix: message x audience rows, a column per language. A cell is present (a
// template in that language), a fallback (read in another language: which one) or missing,
// over every channel carrying it; the last column lists the languages an audience will not get.
const STATUS = ["present", "fallback", "missing"];

function routeShown(route) {
  return (
    (!state.sets.audience || state.sets.audience.has(route.audience)) &&
    (!state.sets.locale || state.sets.locale.has(route.locale)) &&
    (!state.sets.platform || state.sets.platform.has(route.platform))
  );
}

function matrixCells(routes) {
  const cells = new Map();
  for (const route of routes) {
    const key = `${route.message}\u0000${route.audience}\u0000${route.locale}`;
    if (!cells.has(key)) {
      cells.set(key, { message: route.message, audience: route.audience, locale: route.locale, routes: [] });
    }
    cells.get(key).routes.push(route);
  }
  for (const cell of cells.values()) {
    cell.status = Math.max(...cell.routes.map((r) => r.status));
    cell.reached = cell.routes.some((r) => r.status === 0);
    cell.fallbacks = [...new Set(cell.routes.filter((r) => r.status === 1).map((r) => r.writtenIn))].sort();
    cell.posts = cell.routes.reduce((n, r) => n + r.posts, 0);
    cell.trouble = cell.routes.reduce((n, r) => n + r.failed + r.refused, 0);
  }
  return [...cells.values()];
}

function statusCell(cell) {
  const td = el("td", `cov ${STATUS[cell.status]}`);
  const main = el("span", "cov-main");
  if (cell.status === 0) {
    main.append(icon("check"), srOnly("present"));
  } else if (cell.status === 1) {
    main.append(srOnly("falls back to "), `→ ${cell.fallbacks.join(", ")}`);
  } else {
    main.append(icon("cross"), "missing");
  }
  td.append(main);
  const channels = cell.routes.length;
  const good = cell.routes.filter((r) => r.status === 0).length;
  const notes = [];
  if (cell.status !== 0 && cell.reached) notes.push(`in ${cell.locale} on ${good} of ${channels} channels`);
  notes.push(`${cell.posts} post${cell.posts === 1 ? "" : "s"}`);
  if (cell.trouble) notes.push(`${cell.trouble} with errors`);
  td.append(el("span", "cov-note", notes.join(" · ")));
  td.title = cell.routes
    .map((r) => `${r.channel}: ${STATUS[r.status]}${r.template ? ` (${r.template})` : ""}`)
    .join("\n");
  return td;
}

function renderMatrix(root) {
  const routes = ROUTES.filter(routeShown);
  const cells = matrixCells(routes);
  const locales = [...new Set(routes.map((r) => r.locale))];
  const rows = new Map();
  for (const cell of cells) {
    const key = `${cell.message}\u0000${cell.audience}`;
    if (!rows.has(key)) rows.set(key, { message: cell.message, audience: cell.audience, cells: new Map() });
    rows.get(key).cells.set(cell.locale, cell);
  }
  const gaps = [];
  for (const row of rows.values()) {
    row.gaps = [...row.cells.values()].filter((c) => !c.reached);
    for (const cell of row.gaps) gaps.push(cell);
  }

  const intro = el("div", "matrix-intro");
  intro.append(el("h2", null, "Languages: which message reaches which audience"));
  if (!cells.length) {
    intro.append(el("p", "cal-hint", "No routes match these filters."));
    root.replaceChildren(intro);
    return;
  }
  if (gaps.length) {
    intro.append(el("h3", "gaps-title", `${gaps.length} language gap${gaps.length === 1 ? "" : "s"}: what an audience will not read in its language`));
    const list = el("ul", "gaps");
    for (const cell of gaps) {
      const item = el("li");
      const how = cell.status === 1 ? `reads it in ${cell.fallbacks.join(", ")} instead` : "gets nothing";
      item.append(el("code", null, cell.message), ` → ${cell.audience} will not get it in `, el("b", null, cell.locale), ` (${how})`);
      list.append(item);
    }
    intro.append(list);
  } else {
    const ok = el("p", "all-good");
    ok.append(icon("check"), "Every message reaches every audience in each of its languages.");
    intro.append(ok);
  }
  const legend = el("p", "legend");
  legend.append(
    el("span", "cov present", "✓ present"),
    el("span", "cov fallback", "→ falls back to another language"),
    el("span", "cov missing", "✗ missing"),
    el("span", "cov na", "· not a language of the audience"),
  );
  intro.append(legend);

  const table = el("table", "matrix");
  const caption = el("caption", "sr", "Each message by audience and language");
  const headRow = el("tr");
  for (const [label, lang] of [["Message"], ["Audience"], ...locales.map((l) => [l, true]), ["Not in its language"]]) {
    const th = el("th", lang ? "loc" : null, label);
    th.scope = "col";
    headRow.append(th);
  }
  const thead = el("thead");
  thead.append(headRow);
  const tbody = el("tbody");
  let previous = null;
  const grouped = [...rows.values()];
  grouped.forEach((row, i) => {
    const tr = el("tr");
    if (row.message !== previous) {
      let span = 1;
      while (grouped[i + span] && grouped[i + span].message === row.message) span += 1;
      const th = el("th", "msg");
      th.scope = "rowgroup";
      th.rowSpan = span;
      th.append(el("code", null, row.message));
      tr.append(th);
      tr.className = "group-start";
      previous = row.message;
    }
    const audience = el("th", "aud", row.audience);
    audience.scope = "row";
    tr.append(audience);
    for (const locale of locales) {
      const cell = row.cells.get(locale);
      if (cell) tr.append(statusCell(cell));
      else {
        const td = el("td", "cov na");
        td.append(el("span", null, "·"), srOnly("not a language of this audience"));
        tr.append(td);
      }
    }
    const missing = el("td", row.gaps.length ? "not-in bad" : "not-in");
    missing.textContent = row.gaps.length ? row.gaps.map((c) => c.locale).join(", ") : "—";
    if (!row.gaps.length) missing.append(srOnly("none"));
    tr.append(missing);
    tbody.append(tr);
  });
  table.append(caption, thead, tbody);
  const scroller = el("div", "scroll");
  scroller.tabIndex = 0;
  scroller.setAttribute("role", "region");
  scroller.setAttribute("aria-label", "Language matrix");
  scroller.append(table);

  const details = el("details", "routes");
  details.append(el("summary", null, `Every route: channel and template (${routes.length})`));
  const list = el("table", "route-table");
  const listHead = el("tr");
  for (const label of ["Message", "Audience", "Language", "Channel", "Template", "Posts"]) {
    const th = el("th", null, label);
    th.scope = "col";
    listHead.append(th);
  }
  const listThead = el("thead");
  listThead.append(listHead);
  const listBody = el("tbody");
  for (const route of routes) {
    const tr = el("tr", STATUS[route.status]);
    const template = route.template
      ? el("code", null, route.template)
      : el("span", "bad", "missing: no template");
    const language = el("td", null, route.locale);
    if (route.status === 1) language.append(` → ${route.writtenIn}`);
    const trouble = route.failed + route.refused;
    tr.append(
      el("td", null, route.message),
      el("td", null, route.audience),
      language,
      el("td", null, route.channel),
      el("td"),
      el("td", "num", `${route.posts}${trouble ? ` (${trouble} with errors)` : ""}`),
    );
    tr.children[4].append(template);
    listBody.append(tr);
  }
  list.append(listThead, listBody);
  const listScroller = el("div", "scroll");
  listScroller.tabIndex = 0;
  listScroller.setAttribute("role", "region");
  listScroller.setAttribute("aria-label", "Every route");
  listScroller.append(list);
  details.append(listScroller);

  root.replaceChildren(intro, scroller, details);
}
