"""Campaigns as code: definitions, rendering, platform rules and the dry-run preview."""
