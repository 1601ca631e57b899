// Post cards, built with DOM calls only: a post's text is always set as text, never parsed as
// markup, and only http(s) links become anchors.
const SVG_NS = "http://www.w3.org/2000/svg";
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];
const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const NEAR_LIMIT = 0.9;
// Links first, so a `#` or `@` inside a URL stays part of the link (as the platforms read it).
const TOKEN = new RegExp(
  "(https?://[^\\s<>\"'`]+)" +
  "|((?<![\\p{L}\\p{N}_#&])#[\\p{L}\\p{N}_]+)" +
  "|((?<![\\p{L}\\p{N}_@/])@[\\p{L}\\p{N}_][\\p{L}\\p{N}_.\\-]*(?:@[\\p{L}\\p{N}_\\-]+(?:\\.[\\p{L}\\p{N}_\\-]+)+)?)",
  "gu",
);
const URL_TRAILING = ".,;:!?'\")]}…»";
const CLOSES = { ")": "(", "]": "[", "}": "{" };

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function icon(name, cls) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", cls || "i");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

function srOnly(text) {
  return el("span", "sr", text);
}

const pad = (n) => String(n).padStart(2, "0");

// A post's wall clock: its UTC instant moved by its offset, read with the UTC getters.
function wallClock(post) {
  return new Date((post.utc + post.offset) * 1000);
}

function clock(post) {
  const local = wallClock(post);
  const seconds = local.getUTCSeconds();
  return `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}${seconds ? `:${pad(seconds)}` : ""}`;
}

function utcOffset(seconds) {
  if (!seconds) return "UTC";
  const sign = seconds < 0 ? "−" : "+";
  const minutes = Math.abs(seconds) / 60;
  return `UTC${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

function localIso(post) {
  const local = wallClock(post);
  const sign = post.offset < 0 ? "-" : "+";
  const minutes = Math.abs(post.offset) / 60;
  return `${local.toISOString().slice(0, 19)}${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

function longDate(key) {
  const day = new Date(`${key}T00:00:00Z`);
  return `${WEEKDAYS[(day.getUTCDay() + 6) % 7]}, ${day.getUTCDate()} ${MONTHS[day.getUTCMonth()]} ${day.getUTCFullYear()}`;
}

function platformClass(platform) {
  return DATA.platformInfo[platform] ? `p-${platform}` : "p-other";
}

function platformName(platform) {
  const info = DATA.platformInfo[platform];
  return info ? info[0] : platform;
}

function badge(platform) {
  const info = DATA.platformInfo[platform];
  const mark = info ? info[1] : platform.slice(0, 1).toUpperCase();
  const node = el("span", "badge");
  node.setAttribute("aria-hidden", "true");
  if (mark.startsWith("#")) node.append(icon(mark.slice(1), "i badge-i"));
  else node.textContent = mark;
  return node;
}

function trimUrl(url) {
  let end = url.length;
  while (end && URL_TRAILING.includes(url[end - 1])) {
    const opening = CLOSES[url[end - 1]];
    const head = url.slice(0, end);
    if (opening && head.split(opening).length >= head.split(url[end - 1]).length) break;
    end -= 1;
  }
  return [url.slice(0, end), url.slice(end)];
}

function richText(node, text) {
  let position = 0;
  TOKEN.lastIndex = 0;
  for (let match = TOKEN.exec(text); match; match = TOKEN.exec(text)) {
    node.append(text.slice(position, match.index));
    if (match[1]) {
      const [href, tail] = trimUrl(match[1]);
      const link = el("a", null, href);
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer nofollow";
      node.append(link, tail);
    } else {
      node.append(el("span", match[2] ? "tag" : "mention", match[0]));
    }
    position = match.index + match[0].length;
  }
  node.append(text.slice(position));
}

function lengthBar(post) {
  const fmt = (n) => n.toLocaleString("en");
  if (post.limit < 0) {
    const node = el("div", "length none");
    const label = el("span", "length-label", `${fmt(post.length)} characters`);
    label.append(el("span", "length-note", "no fixed limit"));
    node.append(label);
    return node;
  }
  const ratio = post.limit > 0 ? post.length / post.limit : Number(post.length > 0);
  const level = post.length > post.limit ? "over" : ratio >= NEAR_LIMIT ? "near" : "ok";
  const node = el("div", `length ${level}`);
  const label = el("span", "length-label", `${fmt(post.length)} / ${fmt(post.limit)}`);
  label.append(
    el("span", "length-note", level === "over"
      ? `${fmt(post.length - post.limit)} over the limit`
      : `${fmt(post.limit - post.length)} left`),
  );
  const bar = document.createElementNS(SVG_NS, "svg");
  bar.setAttribute("class", "bar");
  bar.setAttribute("viewBox", "0 0 100 6");
  bar.setAttribute("preserveAspectRatio", "none");
  bar.setAttribute("aria-hidden", "true");
  for (const [cls, width] of [["bar-track", 100], ["bar-fill", Math.min(ratio, 1) * 100]]) {
    const rect = document.createElementNS(SVG_NS, "rect");
    rect.setAttribute("class", cls);
    rect.setAttribute("width", width.toFixed(1));
    rect.setAttribute("height", "6");
    bar.append(rect);
  }
  node.append(label, bar);
  return node;
}

function fact(name, iconName, ...content) {
  const row = el("div");
  const term = el("dt");
  term.append(icon(iconName), name);
  const value = el("dd");
  value.append(...content);
  row.append(term, value);
  return row;
}

// One post as its platform would show it, with what a reviewer checks: its errors and warnings
// first, its length against the limit, its local time in the audience's zone, its template.
function card(post, anchored) {
  const platform = post.platform;
  const node = el("article", `card ${platformClass(platform)}${post.errors.length ? " over" : ""}`);
  if (anchored) node.id = `post-${post.id}`;
  node.dataset.id = post.id;

  const head = el("header", "card-head");
  const heading = el("h3", "who");
  heading.append(el("span", "channel", post.channel));
  const name = el("span", "platform-name", platformName(platform));
  if (post.errors.length) name.append(el("span", "flag", "Refused"));
  heading.append(name, srOnly(`, ${clock(post)}, ${post.audience}, ${post.locale}`));
  const when = el("time", "when", clock(post));
  when.dateTime = localIso(post);
  head.append(badge(platform), heading, when);
  node.append(head);

  if (post.errors.length || post.warnings.length) {
    const issues = el("ul", "issues");
    for (const [kind, iconName, label, notes] of [
      ["error", "cross", "Error: ", post.errors],
      ["warning", "warn", "Warning: ", post.warnings],
    ]) {
      for (const note of notes) {
        const item = el("li", kind);
        item.append(icon(iconName), srOnly(label), el("span", null, note));
        issues.append(item);
      }
    }
    node.append(issues);
  }

  const text = el("div", "text");
  text.lang = post.locale;
  text.dir = "auto";
  text.dataset.time = clock(post);
  richText(text, post.text);
  node.append(text);

  const actions = (DATA.platformInfo[platform] || [0, 0, []])[2];
  if (actions.length) {
    const row = el("div", "actions");
    row.setAttribute("aria-hidden", "true");
    for (const [iconName, label] of actions) {
      const action = el("span", null);
      action.append(icon(iconName), label);
      row.append(action);
    }
    node.append(row);
  }
  node.append(lengthBar(post));

  const local = wallClock(post);
  const utc = new Date(post.utc * 1000);
  const facts = el("dl", "meta");
  facts.append(
    fact("Audience", "people", post.audience),
    fact("Language", "globe", post.locale),
    fact(
      "Local time",
      "clock",
      `${local.toISOString().slice(0, 10)} ${clock(post)} `,
      el("span", "tz", `${post.zone} (${utcOffset(post.offset)}) · ${pad(utc.getUTCHours())}:${pad(utc.getUTCMinutes())} UTC`),
    ),
    fact("Template", "file", el("code", null, post.template)),
  );
  node.append(facts);

  const foot = el("footer", "card-foot");
  const message = el("span", null, "message ");
  message.append(el("code", null, post.message));
  foot.append(message, el("code", "pid", post.id));
  node.append(foot);
  return node;
}
