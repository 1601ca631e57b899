"""Operating stored campaigns: pause, resume, cancel, restore and retry, whole or by part."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from campaign.cli.common import (
    STORE_NOTE,
    add_command,
    add_format,
    add_scope,
    confirm,
    local,
    print_json,
    scope_of,
    store_of,
)
from campaign.terminal import printable

if TYPE_CHECKING:
    from campaign.cli.common import Commands
    from workers.store import Scope, Store, StoredPost

PAUSE_HELP = f"""\
Stop handing out posts of a campaign, or of part of it (an audience, a channel, a language: a
crisis in one region stops that region only), or of every campaign with --all, from the next
scheduler tick; posts already being sent finish. Posts stay scheduled; those that become later
than max_lateness while paused are marked missed after `campaign resume`.

examples:
  campaign pause safe-migration
  campaign pause safe-migration --audience kosovo-communities
  campaign pause --all
{STORE_NOTE}"""

RESUME_HELP = f"""\
Lift a pause: the same campaign and part that `campaign pause` was given (or --all).

examples:
  campaign resume safe-migration
  campaign resume safe-migration --audience kosovo-communities
  campaign resume --all
{STORE_NOTE}"""

CANCEL_HELP = f"""\
Cancel the posts of a campaign (or of a part of it) that no worker has taken yet; posts being
sent finish, sent posts stay. Says how many and asks first on a terminal (--yes in scripts).
Undo it with `campaign restore`, or by applying the campaign file again: posts whose time is
still ahead come back.

examples:
  campaign cancel safe-migration --message "withdrawn after partner review"
  campaign cancel safe-migration --channel x-un-network-kg --yes
{STORE_NOTE}"""

RESTORE_HELP = f"""\
Bring back cancelled posts of a campaign (or of a part of it) whose time is still ahead.

examples:
  campaign restore safe-migration
  campaign restore safe-migration --locale sr
{STORE_NOTE}"""

RETRY_HELP = f"""\
Send failed posts again (after fixing what failed them: a token, a setting), and missed ones;
or unknown posts, whose earlier attempt may be on the platform. An unknown post is first looked
up on its platform where the platform can say (then it is recorded sent, with its URL); the
others are sent again only when a person has checked that they are not on the platform
(--confirmed-not-on-platform). Shows what it will retry and asks first (--yes in scripts).

examples:
  campaign retry safe-migration
  campaign retry safe-migration --channel telegram-safe-migration-kg --yes
  campaign retry safe-migration --state unknown --confirmed-not-on-platform
  campaign retry safe-migration --post 3f9c2a61d0be44e1a7c2
{STORE_NOTE}"""


def register(commands: Commands) -> None:
    for name, summary, description, handler in (
        ("pause", "stop posting a campaign, a part of it, or --all", PAUSE_HELP, run_pause),
        ("resume", "lift a pause", RESUME_HELP, run_resume),
    ):
        command = add_command(commands, name, summary, description)
        which = command.add_mutually_exclusive_group(required=True)
        which.add_argument("campaign", nargs="?", metavar="CAMPAIGN", help="campaign slug")
        which.add_argument("--all", action="store_true", help="every campaign")
        add_scope(command)
        command.set_defaults(handler=handler)

    cancel = add_command(commands, "cancel", "cancel posts not yet handed out", CANCEL_HELP)
    cancel.add_argument("campaign", metavar="CAMPAIGN", help="campaign slug")
    add_scope(cancel)
    cancel.add_argument(
        "--message", default="cancelled by campaign cancel", metavar="M", help="why (recorded)"
    )
    cancel.add_argument("--yes", action="store_true", help="do not ask")
    cancel.set_defaults(handler=run_cancel)

    restore = add_command(commands, "restore", "bring back cancelled posts", RESTORE_HELP)
    restore.add_argument("campaign", metavar="CAMPAIGN", help="campaign slug")
    add_scope(restore)
    restore.set_defaults(handler=run_restore)

    retry = add_command(commands, "retry", "send failed, missed or unknown posts again", RETRY_HELP)
    retry.add_argument("campaign", metavar="CAMPAIGN", help="campaign slug")
    retry.add_argument("--post", action="append", default=[], metavar="ID", help="only these")
    add_scope(retry)
    retry.add_argument(
        "--state",
        action="append",
        choices=("failed", "missed", "unknown"),
        help="which posts (default: failed and missed; repeatable)",
    )
    retry.add_argument(
        "--confirmed-not-on-platform",
        action="store_true",
        help="a person checked that these unknown posts are not on their platform",
    )
    retry.add_argument("--yes", action="store_true", help="do not ask")
    add_format(retry)
    retry.set_defaults(handler=run_retry)


def _what(args: argparse.Namespace, scope: Scope) -> str:
    whole = "every campaign" if args.campaign is None else args.campaign
    return whole if scope.whole else f"{whole} ({scope})"


def run_pause(args: argparse.Namespace) -> int:
    scope = scope_of(args)
    store_of(args).pause(args.campaign, scope, time.time())
    print(f"paused {_what(args, scope)}")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    from campaign.errors import ConfigurationError

    scope = scope_of(args)
    store = store_of(args)
    record = store.campaign(args.campaign) if args.campaign else None
    if record is not None and record.cancelled is not None and scope.whole:
        _refuse_resume_of_cancelled(args.campaign, record.cancelled, record.paused)
    if not store.resume(args.campaign, scope, time.time()):
        paused = ", ".join(str(p) for p in record.paused) if record else ""
        hint = f" (paused: {paused})" if paused else " (nothing of it is paused)"
        raise ConfigurationError(f"{_what(args, scope)} was not paused{hint}")
    print(f"resumed {_what(args, scope)}")
    return 0


def _refuse_resume_of_cancelled(campaign: str, why: str, paused: tuple[Scope, ...]) -> None:
    """Resuming a cancelled campaign would do nothing: say what would.

    Raises:
        ConfigurationError: unless the campaign is also paused as a whole.
    """
    from campaign.errors import ConfigurationError

    if not any(scope.whole for scope in paused):
        raise ConfigurationError(
            f"campaign {campaign!r} was cancelled ({why}), not paused: bring its posts back "
            f"with `campaign restore {campaign}` or by applying its file again"
        )


def run_cancel(args: argparse.Namespace) -> int:
    from workers.store import State

    scope = scope_of(args)
    store = store_of(args)
    _require(store, args.campaign)
    pending = store.posts(args.campaign, states=(State.SCHEDULED, State.QUEUED), scope=scope)
    if not pending:
        print(f"nothing to cancel in {_what(args, scope)}")
        return 0
    question = (
        f"Cancel {len(pending):,} post(s) of {_what(args, scope)}? "
        f"`campaign restore {args.campaign}` brings back those still ahead."
    )
    if not confirm(question, assume_yes=args.yes):
        print("nothing cancelled")
        return 1
    cancelled = store.cancel(args.campaign, scope, args.message, time.time())
    print(
        f"cancelled {len(cancelled):,} posts of {_what(args, scope)}; "
        f"undo with `campaign restore {args.campaign}`"
    )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    scope = scope_of(args)
    restored = store_of(args).restore(args.campaign, scope, time.time())
    print(f"restored {len(restored):,} posts of {_what(args, scope)}")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from campaign.errors import ConfigurationError
    from workers.store import State

    store = store_of(args)
    record = _require(store, args.campaign)
    states = {State(s) for s in (args.state or ("failed", "missed"))}
    if args.post and not args.state:
        states = {State.FAILED, State.MISSED, State.UNKNOWN}
    chosen = [
        post
        for post in store.posts(args.campaign, states=states, scope=scope_of(args))
        if not args.post or post.id in args.post
    ]
    missing = sorted(set(args.post) - {post.id for post in chosen})
    if missing:
        raise ConfigurationError(
            f"not {' or '.join(sorted(states))} posts of {args.campaign}: {', '.join(missing)}"
        )
    say = print if args.format == "table" else _to_stderr
    found = _reconcile(store, [p for p in chosen if p.state is State.UNKNOWN], say)
    unsure = [p for p in chosen if p.state is State.UNKNOWN and p.id not in found]
    retried = [p for p in chosen if p.state is not State.UNKNOWN]
    if unsure and not args.confirmed_not_on_platform:
        say(
            f"{len(unsure)} unknown post(s) may be on their platform already: check the platform, "
            "then run again with --confirmed-not-on-platform to send them"
        )
    else:
        retried += unsure
    report = {
        "reconciled": sorted(found),
        "retried": [p.id for p in retried],
        "unsure": bool(unsure) and not args.confirmed_not_on_platform,
        "states": [str(state) for state in states],
    }
    if retried:
        zones = record.zones
        for post in retried:
            zone = zones.get(post.audience, "UTC")
            say(
                f"  {post.state:<8} {local(post.scheduled_at, zone)}  {printable(post.channel)}  "
                f"{post.locale}  {post.id}  {printable(post.error or '')}"
            )
        question = f"Send these {len(retried)} post(s) again now?"
        if not confirm(question, assume_yes=args.yes):
            print("nothing retried")
            return 1
        store.retry([p.id for p in retried], time.time(), confirmed_not_out=True)
    return _retry_report(args, report, found)


def _retry_report(args: argparse.Namespace, report: dict[str, Any], found: dict[str, str]) -> int:
    if args.format == "json":
        print_json({"reconciled": report["reconciled"], "retried": report["retried"]})
        return 0
    for post_id, url in sorted(found.items()):
        print(f"  found on the platform, recorded sent: {post_id}  {printable(url)}")
    if not report["retried"] and not found and not report["unsure"]:
        print(f"nothing to retry: no {' or '.join(sorted(report['states']))} posts")
        return 0
    print(f"retried {len(report['retried'])} post(s); {len(found)} found already published")
    return 0


def _to_stderr(*text: object) -> None:
    print(*text, file=sys.stderr)


def _reconcile(store: Store, unknown: list[StoredPost], say: Callable[..., None]) -> dict[str, str]:
    """Look up unknown posts on their platforms where a client can: those found are sent."""
    from campaign.errors import CampaignError
    from workers.publish import reconcile

    found: dict[str, str] = {}
    for post in unknown:
        try:
            published = reconcile(store, post)
        except CampaignError as exc:
            say(f"  {post.id}: could not look it up ({printable(str(exc))})")
            continue
        if published is not None:
            found[post.id] = published.url or published.remote_id
    return found


def _require(store: Store, campaign: str) -> Any:
    from campaign.errors import ConfigurationError

    record = store.campaign(campaign)
    if record is None:
        known = ", ".join(r.slug for r in store.campaigns()) or "none"
        raise ConfigurationError(f"no campaign {campaign!r} is stored (stored: {known})")
    return record
