// The timeline: one section per local day, its cards in publishing order. A small campaign is
// built whole (find-in-page and screen readers see every card; the browser skips laying out
// days off screen, `content-visibility`); past EAGER_CARDS, a day's cards are built when the
// day comes near the screen, so 10,000 posts open and filter quickly.
const EAGER_CARDS = 800;
const CARD_HEIGHT_GUESS = 380;
const CARD_MIN_WIDTH = 330;

const timeline = {
  root: null,
  observer: null,
  version: 0, // bumped by every filter change; a day built for an older one is rebuilt
};

function buildTimeline(root) {
  timeline.root = root;
  const fragment = document.createDocumentFragment();
  for (const day of DAYS) {
    const section = el("section", "day");
    section.dataset.day = day.key;
    const heading = el("h2", "day-head");
    const date = new Date(`${day.key}T00:00:00Z`);
    const sheet = el("span", "sheet");
    sheet.setAttribute("aria-hidden", "true");
    sheet.append(
      el("span", "sheet-month", MONTHS[date.getUTCMonth()].slice(0, 3)),
      el("span", "sheet-day", String(date.getUTCDate())),
      el("span", "sheet-dow", WEEKDAYS[(date.getUTCDay() + 6) % 7].slice(0, 3)),
    );
    const title = el("span", "day-title", longDate(day.key));
    day.countLabel = el("span", "day-count");
    title.append(day.countLabel);
    heading.append(sheet, title);
    day.cards = el("div", "cards");
    day.built = -1;
    section.append(heading, day.cards);
    day.section = section;
    fragment.append(section);
  }
  const empty = el("p", "no-match", "No posts match these filters.");
  empty.hidden = true;
  timeline.empty = empty;
  root.append(empty, fragment);
  if ("IntersectionObserver" in window) {
    timeline.observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          if (entry.isIntersecting) buildDay(entry.target.day);
        }
      },
      { rootMargin: "1200px 0px" },
    );
  }
  window.addEventListener("beforeprint", () => {
    if (POSTS.length > EAGER_CARDS) DAYS.forEach(buildDay);
  });
}

function buildDay(day) {
  if (day.built === timeline.version) return;
  // A card is built once and kept: filtering again only moves built cards in and out.
  day.cards.replaceChildren(...day.matched.map((post) => post.card || (post.card = card(post, true))));
  day.cards.style.minHeight = "";
  day.built = timeline.version;
}

function refreshTimeline(shown) {
  timeline.version += 1;
  // A small campaign keeps every card in the page and hides those filtered out (cheaper than
  // moving them); a large one holds only the cards of the days near the screen.
  const whole = POSTS.length <= EAGER_CARDS || !timeline.observer;
  const columns = Math.max(1, Math.floor((timeline.root.clientWidth || 1000) / CARD_MIN_WIDTH));
  if (timeline.observer) timeline.observer.disconnect();
  for (const day of DAYS) {
    const here = day.matched.length;
    const total = day.posts.length;
    day.section.hidden = here === 0;
    day.countLabel.textContent =
      here === total ? `${total} post${total === 1 ? "" : "s"}` : `${here} of ${total} posts`;
    if (whole) {
      if (!day.cards.firstChild) {
        day.cards.append(...day.posts.map((post) => (post.card = card(post, true))));
      }
      for (const post of day.posts) post.card.hidden = !post.shown;
    } else if (here) {
      // Keep the page's height close to the real one, so the scroll bar and anchors hold.
      day.cards.replaceChildren();
      day.cards.style.minHeight = `${Math.ceil(here / columns) * CARD_HEIGHT_GUESS}px`;
      day.section.day = day;
      timeline.observer.observe(day.section);
    }
  }
  if (!whole) {
    // The days on the first screen are built now, not a frame later: the page opens with posts.
    let room = window.innerHeight + 1200 - timeline.root.getBoundingClientRect().top;
    for (const day of DAYS) {
      if (room <= 0) break;
      if (!day.matched.length) continue;
      buildDay(day);
      room -= Math.ceil(day.matched.length / columns) * CARD_HEIGHT_GUESS;
    }
  }
  timeline.empty.hidden = shown !== 0;
}

// Bring one post into view (a link from the list of errors, or #post-ID in the address).
function revealPost(id) {
  const day = DAYS.find((d) => d.matched.some((p) => p.id === id));
  if (!day) return false;
  if (POSTS.length > EAGER_CARDS) buildDay(day);
  const target = document.getElementById(`post-${id}`);
  if (!target) return false;
  target.tabIndex = -1;
  target.focus({ preventScroll: true });
  target.scrollIntoView({ block: "start" });
  return true;
}
