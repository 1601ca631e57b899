// The month calendar: each day its posts by platform and language; choosing a day shows its
// cards below the month. Days are local dates: each post sits on its own audience's date.
const calendar = { root: null };

function monthKey(dayKey) {
  return dayKey.slice(0, 7);
}

function campaignMonths() {
  const months = [];
  if (!DAYS.length) return months;
  let [year, month] = monthKey(DAYS[0].key).split("-").map(Number);
  const last = monthKey(DAYS[DAYS.length - 1].key);
  for (;;) {
    const key = `${year}-${pad(month)}`;
    months.push(key);
    if (key >= last) return months;
    month += 1;
    if (month > 12) [year, month] = [year + 1, 1];
  }
}

function countBy(posts, field) {
  const counts = new Map();
  for (const post of posts) counts.set(post[field], (counts.get(post[field]) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

// "Asia/Bishkek (UTC+06:00): migrants-kg, activists" for the zones of the given posts.
function zoneLines(posts) {
  const zones = new Map();
  for (const post of posts) {
    const zone = zones.get(post.zone) || { offsets: new Set(), audiences: new Set(), n: 0 };
    zone.offsets.add(post.offset);
    zone.audiences.add(post.audience);
    zone.n += 1;
    zones.set(post.zone, zone);
  }
  return [...zones].map(([name, zone]) => ({
    name,
    offsets: [...zone.offsets].sort((a, b) => a - b).map(utcOffset).join(" / "),
    audiences: [...zone.audiences].sort(),
    n: zone.n,
  }));
}

function renderCalendar(root) {
  calendar.root = root;
  const months = campaignMonths();
  const shownDays = DAYS.filter((d) => d.matched.length);
  if (!months.includes(state.month)) {
    state.month = monthKey(state.day || (shownDays[0] || DAYS[0]).key);
  }
  const index = months.indexOf(state.month);
  const [year, month] = state.month.split("-").map(Number);

  const intro = el("div", "cal-zones");
  intro.append(el("p", null, "Days are local dates: each post is on its audience's date, in its zone:"));
  const zones = el("ul");
  for (const zone of zoneLines(POSTS)) {
    const item = el("li");
    item.append(el("strong", null, zone.name), ` (${zone.offsets}): ${zone.audiences.join(", ")}`);
    zones.append(item);
  }
  intro.append(zones);

  const nav = el("div", "cal-nav");
  const title = el("h2", "cal-title", `${MONTHS[month - 1]} ${year}`);
  title.id = "cal-title";
  const step = (delta, label, iconName) => {
    const target = months[index + delta];
    const button = el("button", "cal-step");
    button.type = "button";
    button.append(icon(iconName), srOnly(label), target ? monthName(target, true) : "");
    button.disabled = !target;
    button.addEventListener("click", () => {
      state.month = target;
      writeFragment();
      renderCalendar(root);
      root.querySelector(delta < 0 ? ".cal-step" : ".cal-step:last-of-type").focus();
    });
    return button;
  };
  nav.append(step(-1, "Previous month: ", "left"), title, step(1, "Next month: ", "right"));

  const table = el("table", "month");
  table.setAttribute("aria-labelledby", "cal-title");
  const head = el("tr");
  for (const name of WEEKDAYS) {
    const th = el("th", null, name.slice(0, 3));
    th.scope = "col";
    th.abbr = name;
    head.append(th);
  }
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  const byKey = new Map(DAYS.map((d) => [d.key, d]));
  const first = new Date(Date.UTC(year, month - 1, 1));
  const lead = (first.getUTCDay() + 6) % 7;
  const length = new Date(Date.UTC(year, month, 0)).getUTCDate();
  let row = el("tr");
  for (let i = 0; i < lead; i += 1) row.append(el("td", "cal-out"));
  for (let date = 1; date <= length; date += 1) {
    const key = `${state.month}-${pad(date)}`;
    const day = byKey.get(key);
    const cell = el("td");
    if (day && day.matched.length) cell.append(dayButton(day, date));
    else cell.append(el("span", "cal-num cal-quiet", String(date)));
    row.append(cell);
    if ((lead + date) % 7 === 0) {
      tbody.append(row);
      row = el("tr");
    }
  }
  if (row.children.length) {
    while (row.children.length < 7) row.append(el("td", "cal-out"));
    tbody.append(row);
  }
  table.append(thead, tbody);
  const grid = el("div", "month-wrap");
  grid.append(table);

  const detail = el("section", "cal-detail");
  detail.setAttribute("aria-live", "off");
  const selected = state.day && byKey.get(state.day);
  if (selected && selected.matched.length) {
    fillDayDetail(detail, selected);
  } else {
    detail.append(el("p", "cal-hint", "Choose a day to see its posts."));
  }
  root.replaceChildren(intro, nav, grid, detail);
}

function monthName(key, short) {
  const [year, month] = key.split("-").map(Number);
  const name = MONTHS[month - 1];
  return short ? name.slice(0, 3) : `${name} ${year}`;
}

function dayButton(day, date) {
  const posts = day.matched;
  const button = el("button", "cal-day");
  button.type = "button";
  button.dataset.day = day.key;
  button.setAttribute("aria-pressed", String(state.day === day.key));
  const platforms = countBy(posts, "platform");
  const languages = countBy(posts, "locale");
  const refused = posts.filter((p) => p.errors.length).length;
  const warned = posts.filter((p) => p.warnings.length).length;
  const n = posts.length;
  const summary = [
    `${longDate(day.key)}: ${n} post${n === 1 ? "" : "s"}`,
    platforms.map(([p, c]) => `${platformName(p)} ${c}`).join(", "),
    languages.map(([l, c]) => `${l} ${c}`).join(", "),
  ];
  if (refused) summary.push(`${refused} over the limit`);
  if (warned) summary.push(`${warned} with warnings`);
  button.setAttribute("aria-label", summary.join("; "));

  const top = el("span", "cal-top");
  top.append(el("span", "cal-num", String(date)), el("span", "cal-n", `${n} post${n === 1 ? "" : "s"}`));
  if (refused) top.append(el("span", "cal-dot bad", "✗"));
  else if (warned) top.append(el("span", "cal-dot warn", "!"));
  const plats = el("span", "cal-plats");
  for (const [platform, count] of platforms) {
    const item = el("span", `cal-plat ${platformClass(platform)}`);
    item.append(badge(platform), String(count));
    plats.append(item);
  }
  const langs = el("span", "cal-langs");
  for (const [locale, count] of languages) {
    const item = el("span", "cal-lang");
    item.append(el("b", null, locale), ` ${count}`);
    langs.append(item);
  }
  button.append(top, plats, langs);
  button.addEventListener("click", () => {
    state.day = day.key;
    writeFragment();
    for (const other of calendar.root.querySelectorAll(".cal-day")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    const detail = calendar.root.querySelector(".cal-detail");
    fillDayDetail(detail, day);
    const heading = detail.querySelector("h2");
    heading.focus({ preventScroll: true });
    detail.scrollIntoView({ block: "start", behavior: "smooth" });
  });
  return button;
}

function fillDayDetail(detail, day) {
  const heading = el("h2", "cal-day-title", longDate(day.key));
  heading.tabIndex = -1;
  const zones = el("p", "cal-day-zones");
  zones.append(
    "Local date ",
    ...zoneLines(day.matched).flatMap((zone, i) => [
      i ? "; " : "",
      "in ",
      el("strong", null, zone.name),
      ` (${zone.offsets}) for ${zone.n} post${zone.n === 1 ? "" : "s"}: ${zone.audiences.join(", ")}`,
    ]),
  );
  const cards = el("div", "cards");
  cards.append(...day.matched.map((post) => card(post, false)));
  detail.replaceChildren(heading, zones, cards);
}
