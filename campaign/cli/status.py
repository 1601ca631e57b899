"""`campaign status`: where each stored campaign is, or one post's whole story."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from campaign.cli.common import (
    STORE_NOTE,
    add_command,
    add_format,
    local,
    print_json,
    store_of,
    utc,
)
from campaign.terminal import printable

if TYPE_CHECKING:
    from campaign.cli.common import Commands
    from workers.status import CampaignStatus
    from workers.store import Store, StoredPost

STATUS_HELP = f"""\
Show each stored campaign (or one): posts per state, the next posts due, failures and unknown
outcomes with their reasons, channels that need a person (an account to reconnect, a setting
to fix), and the last posts sent with their URLs. Times are each audience's local time (UTC
in JSON). --post shows one post's whole story: its text, times, attempts and every state change.

examples:
  campaign status
  campaign status safe-migration --all
  campaign status --post 3f9c2a61d0be44e1a7c2
  campaign status safe-migration --format json
{STORE_NOTE}"""


def register(commands: Commands) -> None:
    status = add_command(commands, "status", "show delivery state, failures and URLs", STATUS_HELP)
    status.add_argument("campaign", nargs="?", metavar="CAMPAIGN", help="one campaign (slug)")
    status.add_argument("--post", metavar="ID", help="one post, with its history")
    status.add_argument("--all", action="store_true", help="list every post, not the last sent")
    add_format(status)
    status.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace) -> int:
    from campaign.errors import ConfigurationError
    from workers.status import campaign_status

    store = store_of(args)
    if args.post:
        return _one_post(store, args.post, args.format)
    stored = [record.slug for record in store.campaigns()]
    if args.campaign and args.campaign not in stored:
        known = ", ".join(stored) or "none"
        raise ConfigurationError(f"no campaign {args.campaign!r} is stored (stored: {known})")
    names = [args.campaign] if args.campaign else stored
    statuses = [campaign_status(store, name, every=args.all) for name in names]
    found = [status for status in statuses if status is not None]
    if args.format == "json":
        print_json({"store": store.describe(), "campaigns": [_json(s) for s in found]})
        return 0
    print(f"store: {store.describe()}")
    if not found:
        print("no campaigns stored; run `campaign run FILE` or `campaign apply FILE`")
    for status in found:
        sys.stdout.write(format_status(status, every=args.all))
    return 0


def format_status(status: CampaignStatus, *, every: bool = False) -> str:
    record = status.record
    flags = ""
    if status.paused_everywhere:
        flags += " (every campaign paused)"
    for scope in record.paused:
        flags += f" (paused: {scope})"
    if record.cancelled is not None:
        flags += f" (cancelled: {printable(record.cancelled)})"
    lines = [f"{printable(record.slug)} — {printable(record.title)}{flags}"]
    lines.append("  " + "  ".join(f"{state} {n}" for state, n in status.counts.items()))
    for need in status.attention:
        lines.append(
            f"  ! {printable(need.channel)}: {need.needs} ({need.posts} post(s) failed): "
            f"{printable(need.error)}"
        )
    if status.next_due:
        lines.append("  next due:")
    for post in status.next_due:
        lines.append(f"    {_row(status, post)}")
    if status.problems:
        lines.append("  problems:")
    for post in status.problems:
        lines.append(f"    {post.state:<9} {_row(status, post)}  {printable(post.error or '')}")
    if status.problems or status.attention:
        lines.append(
            f"  once fixed, send them again: campaign retry {printable(record.slug)} "
            "(campaign retry --help: unknown posts, by channel, one post)"
        )
    if status.sent:
        lines.append("  every post:" if every else "  last sent:")
    for post in status.sent:
        state = f"{post.state:<9} " if every else ""
        lines.append(f"    {state}{_row(status, post)}{_sent(post)}")
    return "\n".join(lines) + "\n"


def _row(status: CampaignStatus, post: StoredPost) -> str:
    return (
        f"{local(post.scheduled_at, status.zone(post))}  {printable(post.channel)}  "
        f"{post.locale}  {post.id}"
    )


def _sent(post: StoredPost) -> str:
    if post.sent_at is None:
        return ""
    late = (post.sent_at - post.scheduled_at).total_seconds()
    return f"  (+{late:.2f} s)  {printable(post.url or '')}"


def _json(status: CampaignStatus) -> dict[str, Any]:
    record = status.record
    return {
        "campaign": record.slug,
        "title": record.title,
        "paused": status.paused,
        "paused_parts": [str(scope) for scope in record.paused if not scope.whole],
        "cancelled": record.cancelled,
        "counts": {str(state): n for state, n in status.counts.items()},
        "attention": [
            {"channel": a.channel, "needs": a.needs, "posts": a.posts, "error": a.error}
            for a in status.attention
        ],
        "next_due": [post_json(p, status.zone(p)) for p in status.next_due],
        "problems": [post_json(p, status.zone(p)) for p in status.problems],
        "sent": [post_json(p, status.zone(p)) for p in status.sent],
    }


def post_json(post: StoredPost, zone: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": post.id,
        "message": post.message,
        "audience": post.audience,
        "channel": post.channel,
        "locale": post.locale,
        "scheduled_at": utc(post.scheduled_at),
        "local_time": post.scheduled_at.astimezone(ZoneInfo(zone)).isoformat(),
        "state": str(post.state),
        "attempts": post.attempts,
    }
    if post.url or post.remote_id:
        entry.update(url=post.url, remote_id=post.remote_id)
    if post.sent_at:
        entry["sent_at"] = utc(post.sent_at)
        entry["late_seconds"] = round((post.sent_at - post.scheduled_at).total_seconds(), 3)
    if post.error and post.state is not post.state.SENT:
        entry["error"] = post.error
    if post.due is not None:
        entry["due"] = utc(post.due)
    return entry


def _one_post(store: Store, post_id: str, form: str) -> int:
    from campaign.errors import ConfigurationError

    post = store.post(post_id)
    if post is None:
        raise ConfigurationError(f"no post {post_id!r} is stored")
    record = store.campaign(post.campaign)
    zone = record.zones.get(post.audience, "UTC") if record else "UTC"
    text = store.texts([post_id]).get(post_id, "")
    history = store.history(post_id)
    if form == "json":
        events = [
            {"at": utc(e.at), "state": str(e.state), "attempt": e.attempt, "detail": e.detail}
            for e in history
        ]
        print_json({**post_json(post, zone), "text": text, "history": events})
        return 0
    lines = [
        f"post {post.id} of {printable(post.campaign)}: {post.state}",
        f"  message {printable(post.message)}, audience {printable(post.audience)}, "
        f"{post.locale}, channel {printable(post.channel)}",
        f"  scheduled {local(post.scheduled_at, zone)} ({utc(post.scheduled_at)})",
        f"  attempts  {post.attempts}",
    ]
    if post.due is not None:
        lines.append(f"  next try  {local(post.due, zone)}")
    if post.sent_at is not None:
        lines.append(f"  sent      {local(post.sent_at, zone)}{_sent(post)}")
    if post.error:
        lines.append(f"  error     {printable(post.error)}")
    lines.append("  history:")
    lines.extend(
        f"    {local(e.at, zone)}  {e.state:<9} attempt {e.attempt}"
        + (f"  {printable(e.detail)}" if e.detail else "")
        for e in history
    )
    lines.append("  text:")
    lines.extend(f"    {printable(line)}" for line in text.splitlines())
    print("\n".join(lines))
    return 0
